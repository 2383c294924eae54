"""candles_5m per symbol-day, and the higher timeframes the same step brings up to date.

candles_5m replaces each symbol-day's rows in PostgreSQL/TimescaleDB; the same step refreshes
candles_15m..candles_12h for that window (TimescaleDB continuous aggregates refreshed explicitly, or
plain tables filled in SQL), so they always agree. The higher timeframes are unpartitioned assets in
the lineage, observed once per run: Dagster's bookkeeping per symbol-day is two asset keys
(r2_ticks, candles_5m), not seven. The step that writes them is defs/assets/daily.py.
"""

import dataclasses
import datetime as dt

import dagster as dg
import pandas as pd

from ticklake_dagster.candles.sql import EMPTY_CANDLES, count_rollups, read_back, refresh_after_write, write_day
from ticklake_dagster.core.timeframes import ROLLUPS
from ticklake_dagster.defs.assets.ticks import R2_TICKS
from ticklake_dagster.defs.checks import candles_findings
from ticklake_dagster.defs.metadata import HIGHER_TIMEFRAMES, candles_metadata
from ticklake_dagster.defs.partitions import partition_key
from ticklake_dagster.defs.resources import DatabaseResource, TicklakeSettings

CANDLES_5M = dg.AssetKey("candles_5m")
# The history path (assets/history.py) writes the same relations for the days before the daily window.
HISTORY_CANDLES = dg.AssetKey("history_candles")

CANDLES_5M_SPEC = dg.AssetSpec(
    CANDLES_5M,
    deps=[R2_TICKS],
    group_name="candles",
    kinds={"postgres"},
    skippable=True,
    description="5-minute OHLC of the mid price per symbol-day, upserted as a whole day (delete window, insert).",
    metadata={"higher_timeframes": ", ".join(HIGHER_TIMEFRAMES)},
)

HIGHER_TIMEFRAME_SPECS = [
    dg.AssetSpec(
        tf.relation,
        deps=[tf.source, HISTORY_CANDLES] if tf.source == CANDLES_5M.to_user_string() else [tf.source],
        group_name="candles",
        kinds={"postgres"},
        description=(
            f"{tf.name} candles rolled up from {tf.source} (continuous aggregate on TimescaleDB), written by the "
            "candles_5m and history steps for the windows they write; observed once per run."
        ),
    )
    for tf in ROLLUPS
    if tf.source is not None  # every rollup has one
]


@dataclasses.dataclass
class CandleDay:
    """One symbol-day's candles, built in the step, and whether it counts as done (ticks, or a closed market)."""

    symbol: str
    day: dt.date
    candles: pd.DataFrame
    ticks: int
    done: bool  # recorded as materialized
    extra: dict = dataclasses.field(default_factory=dict)  # e.g. market: closed


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def write_candle_days(
    context: dg.AssetExecutionContext,
    database: DatabaseResource,
    settings: TicklakeSettings,
    days: list[CandleDay],
) -> dict[str, dict[str, str | None]]:
    """Replace each day's candles (an empty day removes stale rows), refresh the rollups, record the done days.

    Returns the candle checks' findings per partition of the days with ticks.
    """
    flavor = database.ensure_schema()
    pairs = [(d.symbol, d.day) for d in days]
    with database.connect() as conn:
        stats = [write_day(conn, flavor, d.symbol, d.day, d.candles) for d in days]
        refresh_after_write(conn, flavor, [d.day for d in days])
        stored = read_back(conn, pairs)
        rollup_rows = count_rollups(conn, pairs)
    context.log.info(
        "\n".join(
            f"{d.symbol} {d.day}: {len(d.candles)} candles, {s.inserted} inserted, {s.updated} updated, "
            f"{s.removed} removed"
            for d, s in zip(days, stats)
        )
    )
    now = utc_now()
    findings = {}
    for d, s in zip(days, stats):
        key = str(partition_key(d.symbol, d.day))
        if d.ticks:
            stored_day = stored.get((d.symbol, d.day), EMPTY_CANDLES)
            findings[key] = candles_findings(stored_day, d.symbol, d.day, d.ticks, now, settings)
        if d.done:
            metadata = {**candles_metadata([d.candles], [s], flavor), **d.extra}
            context.log_event(dg.AssetMaterialization(asset_key=CANDLES_5M, partition=key, metadata=metadata))
    for name in HIGHER_TIMEFRAMES:
        context.log_event(
            dg.AssetObservation(
                asset_key=name,
                metadata={
                    "candle_count": rollup_rows[name],
                    "window_start": min(d.day for d in days).isoformat(),
                    "window_end": max(d.day for d in days).isoformat(),
                    "database_flavor": flavor,
                },
            )
        )
    return findings
