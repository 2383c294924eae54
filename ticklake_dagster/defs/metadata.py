"""What r2_ticks and candles_5m record with each materialization: the assets and `ticklake materialize` build it here."""

import dagster as dg
import pandas as pd

from ticklake_dagster.candles.sql import WriteStats
from ticklake_dagster.core.days import iso_ms
from ticklake_dagster.core.timeframes import ROLLUPS
from ticklake_dagster.ticks.compaction import CompactedDay

HIGHER_TIMEFRAMES = [tf.relation for tf in ROLLUPS]


def ticks_metadata(results: list[CompactedDay]) -> dict:
    """One symbol-day: its counts and path; a backfill range: the totals."""
    if len(results) == 1:
        only = results[0]
        return {**only.metadata(), "path": dg.MetadataValue.path(only.key)}
    return {
        "partitions": len(results),
        "parts_read": sum(r.parts for r in results),
        "ticks_kept": sum(r.metadata()["ticks_kept"] for r in results),
        "rejected": sum(r.clean.rejected_total for r in results),
        "duplicates_removed": sum(r.clean.duplicates for r in results),
        "bytes_written": sum(r.bytes_written for r in results),
        "empty_days": sum(1 for r in results if r.parts == 0),
    }


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
