"""candles_5m: 5-minute OHLC candles of each symbol-day, replacing that day's rows in PostgreSQL/TimescaleDB."""

import dagster as dg

from ticklake_dagster.assets.backfill import ticks_backfill_policy
from ticklake_dagster.assets.ticks import r2_ticks
from ticklake_dagster.candles import ROLLUPS, build_candles
from ticklake_dagster.days import iso_ms
from ticklake_dagster.partitions import symbol_days, ticks_partitions_def
from ticklake_dagster.pipeline import load_compacted, refresh_after_write, write_day
from ticklake_dagster.resources import DatabaseResource, LakeResource

HIGHER_TIMEFRAMES = [name for name, _, _ in ROLLUPS]


@dg.asset(
    partitions_def=ticks_partitions_def,
    backfill_policy=ticks_backfill_policy,
    deps=[r2_ticks],
    group_name="candles",
    kinds={"postgres"},
    pool="ticklake_database",
    metadata={"higher_timeframes": ", ".join(HIGHER_TIMEFRAMES)},
)
def candles_5m(
    context: dg.AssetExecutionContext, lake: LakeResource, database: DatabaseResource
) -> dg.MaterializeResult:
    """5-minute OHLC of the mid price per symbol-day, upserted as a whole day (delete window, insert)."""
    store = lake.get_lake()
    flavor = database.ensure_schema()
    built = []
    for symbol, day in symbol_days(context):
        built.append((symbol, day, build_candles(load_compacted(store, symbol, day))))
    with database.connect() as conn:
        stats = [write_day(conn, flavor, symbol, day, candles) for symbol, day, candles in built]
        refresh_after_write(conn, flavor, [day for _, day, _ in built])
    for (symbol, day, candles), s in zip(built, stats):
        context.log.info(
            f"{symbol} {day}: {len(candles)} candles, {s.inserted} inserted, {s.updated} updated, {s.removed} removed"
        )
    candle_times = [c["time"] for _, _, c in built if len(c)]
    first = min(int(t.iloc[0]) for t in candle_times) if candle_times else None
    last = max(int(t.iloc[-1]) for t in candle_times) if candle_times else None
    return dg.MaterializeResult(
        metadata={
            "candle_count": sum(len(c) for _, _, c in built),
            "first_candle": iso_ms(first),
            "last_candle": iso_ms(last),
            "rows_upserted": sum(s.upserted for s in stats),
            "rows_removed": sum(s.removed for s in stats),
            "database_flavor": flavor,
            "higher_timeframes": ", ".join(HIGHER_TIMEFRAMES),
        }
    )
