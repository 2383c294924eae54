"""candles_5m and the higher timeframes it brings up to date: one step, six assets in the lineage.

candles_5m replaces each symbol-day's rows in PostgreSQL/TimescaleDB; the same step refreshes
candles_15m..candles_1d for that window (TimescaleDB continuous aggregates refreshed explicitly, or
plain tables filled in SQL), so they are materialized together and always agree.
"""

import datetime as dt

import dagster as dg

from ticklake_dagster.asset_metadata import HIGHER_TIMEFRAMES, candles_metadata
from ticklake_dagster.assets.backfill import ticks_backfill_policy
from ticklake_dagster.assets.ticks import r2_ticks
from ticklake_dagster.candle_sql import EMPTY_CANDLES, count_rollups, read_back
from ticklake_dagster.candles import build_candles
from ticklake_dagster.checks import CANDLES_SEVERITIES, candles_check_specs, candles_findings, summarize_all
from ticklake_dagster.partitions import partition_key, symbol_days, ticks_partitions_def
from ticklake_dagster.pipeline import load_compacted, refresh_after_write, write_day
from ticklake_dagster.resources import DatabaseResource, LakeResource, TicklakeSettings
from ticklake_dagster.timeframes import ROLLUPS

CANDLE_SPECS = [
    dg.AssetSpec(
        "candles_5m",
        deps=[r2_ticks],
        group_name="candles",
        kinds={"postgres"},
        description="5-minute OHLC of the mid price per symbol-day, upserted as a whole day (delete window, insert).",
        metadata={"higher_timeframes": ", ".join(HIGHER_TIMEFRAMES)},
    ),
    *(
        dg.AssetSpec(
            tf.relation,
            deps=[tf.source],
            group_name="candles",
            kinds={"postgres"},
            description=f"{tf.name} candles rolled up from {tf.source} for the same window (continuous aggregate on TimescaleDB).",
        )
        for tf in ROLLUPS
    ),
]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dg.multi_asset(
    name="candles_5m",
    specs=CANDLE_SPECS,
    partitions_def=ticks_partitions_def,
    backfill_policy=ticks_backfill_policy,
    pool="ticklake_database",
    check_specs=candles_check_specs("candles_5m"),
)
def candles_5m(context: dg.AssetExecutionContext, lake: LakeResource, database: DatabaseResource, settings: TicklakeSettings):
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
    for (symbol, day, candles, _), s in zip(built, stats):
        context.log.info(
            f"{symbol} {day}: {len(candles)} candles, {s.inserted} inserted, {s.updated} updated, {s.removed} removed"
        )
    now = utc_now()
    findings = {
        str(partition_key(symbol, day)): candles_findings(stored.get((symbol, day), EMPTY_CANDLES), symbol, day, n_ticks, now, settings)
        for symbol, day, _, n_ticks in built
    }
    yield dg.MaterializeResult(
        asset_key="candles_5m",
        metadata=candles_metadata([c for _, _, c, _ in built], stats, flavor),
        check_results=summarize_all("candles_5m", findings, CANDLES_SEVERITIES),
    )
    for name in HIGHER_TIMEFRAMES:
        yield dg.MaterializeResult(asset_key=name, metadata={"candle_count": rollup_rows[name], "database_flavor": flavor})
