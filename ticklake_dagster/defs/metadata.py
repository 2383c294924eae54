"""What r2_ticks and candles_5m record with each materialization: the assets and `ticklake materialize` build it
here.
"""

import dagster as dg
import pandas as pd

from ticklake_dagster.candles.sql import WriteStats
from ticklake_dagster.core.days import iso_ms
from ticklake_dagster.core.timeframes import ROLLUPS
from ticklake_dagster.ticks.compaction import CompactedDay

HIGHER_TIMEFRAMES = [tf.relation for tf in ROLLUPS]


def ticks_metadata(result: CompactedDay) -> dict:
    """One symbol-day's counts and the path of its compacted file."""
    return {**result.metadata(), "path": dg.MetadataValue.path(result.key)}


def candles_metadata(candles: list[pd.DataFrame], stats: list[WriteStats], flavor: str) -> dict:
    """The candles written for one symbol-day or a range, and what the write changed."""
    times = [c["time"] for c in candles if len(c)]
    return {
        "candle_count": sum(len(c) for c in candles),
        "first_candle": iso_ms(min(int(t.iloc[0]) for t in times) if times else None),
        "last_candle": iso_ms(max(int(t.iloc[-1]) for t in times) if times else None),
        "rows_upserted": sum(s.upserted for s in stats),
        "rows_removed": sum(s.removed for s in stats),
        "database_flavor": flavor,
        "higher_timeframes": ", ".join(HIGHER_TIMEFRAMES),
    }
