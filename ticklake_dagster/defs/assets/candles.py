"""candles_5m per symbol-day, and the higher timeframes the same step brings up to date.

candles_5m replaces each symbol-day's rows in PostgreSQL/TimescaleDB; the same step refreshes
candles_15m..candles_1d for that window (TimescaleDB continuous aggregates refreshed explicitly, or
plain tables filled in SQL), so they always agree. The higher timeframes are unpartitioned assets in
the lineage, observed once per run: Dagster's bookkeeping per symbol-day is two asset keys
(r2_ticks, candles_5m), not seven.

A day without ticks is not data: candles_5m logs a materialization only for the days of the run that
hold ticks and an observation `no_data` for the others (a ranged run's output would mark every day
of the range materialized, so the spec is skippable and the events are logged per partition).
"""

import datetime as dt

import dagster as dg

from ticklake_dagster.candles.building import build_candles
from ticklake_dagster.candles.sql import EMPTY_CANDLES, count_rollups, read_back, refresh_after_write, write_day
from ticklake_dagster.core.timeframes import ROLLUPS
from ticklake_dagster.defs.assets.backfill import ticks_backfill_policy
from ticklake_dagster.defs.assets.ticks import r2_ticks
from ticklake_dagster.defs.checks import (
    CANDLES_SEVERITIES,
    candles_check_specs,
    candles_findings,
    selected_results,
    summarize_all,
)
from ticklake_dagster.defs.metadata import HIGHER_TIMEFRAMES, candles_metadata
from ticklake_dagster.defs.partitions import partition_key, symbol_days, ticks_partitions_def
from ticklake_dagster.defs.resources import DatabaseResource, LakeResource, TicklakeSettings
from ticklake_dagster.ticks.compaction import load_compacted

CANDLES_5M = dg.AssetKey("candles_5m")
# The history path (assets/history.py) writes the same relations for the days before the daily window.
HISTORY_CANDLES = dg.AssetKey("history_candles")

CANDLES_5M_SPEC = dg.AssetSpec(
    CANDLES_5M,
    deps=[r2_ticks],
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
]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dg.multi_asset(
    name="candles_5m",
    specs=[CANDLES_5M_SPEC],
    partitions_def=ticks_partitions_def,
    backfill_policy=ticks_backfill_policy,
    pool="ticklake_database",
    check_specs=candles_check_specs(CANDLES_5M),
    can_subset=True,  # so a run of days without ticks may yield no check results
)
def candles_5m(
    context: dg.AssetExecutionContext, lake: LakeResource, database: DatabaseResource, settings: TicklakeSettings
):
    """5-minute OHLC of the mid price per symbol-day, then every higher timeframe for the same window."""
    store = lake.get_lake()
    flavor = database.ensure_schema()
    built = []
    for symbol, day in symbol_days(context):
        ticks = load_compacted(store, symbol, day)
        built.append((symbol, day, build_candles(ticks), len(ticks)))
    with database.connect() as conn:
        stats = [write_day(conn, flavor, symbol, day, candles) for symbol, day, candles, _ in built]
        refresh_after_write(conn, flavor, [day for _, day, _, _ in built])
        stored = read_back(conn, [(s, d) for s, d, _, _ in built])
        rollup_rows = count_rollups(conn, [(s, d) for s, d, _, _ in built])
    now = utc_now()
    findings = {}
    context.log.info(
        "\n".join(
            f"{symbol} {day}: {len(candles)} candles, {s.inserted} inserted, {s.updated} updated, {s.removed} removed"
            for (symbol, day, candles, _), s in zip(built, stats)
        )
    )
    for (symbol, day, candles, n_ticks), s in zip(built, stats):
        key = str(partition_key(symbol, day))
        if not n_ticks:
            context.log_event(
                dg.AssetObservation(
                    asset_key=CANDLES_5M, partition=key, metadata={"no_data": True, "rows_removed": s.removed}
                )
            )
            continue
        findings[key] = candles_findings(stored.get((symbol, day), EMPTY_CANDLES), symbol, day, n_ticks, now, settings)
        context.log_event(
            dg.AssetMaterialization(
                asset_key=CANDLES_5M, partition=key, metadata=candles_metadata([candles], [s], flavor)
            )
        )
    days = [day for _, day, _, _ in built]
    for name in HIGHER_TIMEFRAMES:
        context.log_event(
            dg.AssetObservation(
                asset_key=name,
                metadata={
                    "candle_count": rollup_rows[name],
                    "window_start": min(days).isoformat(),
                    "window_end": max(days).isoformat(),
                    "database_flavor": flavor,
                },
            )
        )
    if findings:
        yield from selected_results(context, summarize_all(CANDLES_5M, findings, CANDLES_SEVERITIES))
