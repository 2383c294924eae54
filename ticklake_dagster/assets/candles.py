"""candles_5m and the higher timeframes it brings up to date: one step, six assets in the lineage.

candles_5m replaces each symbol-day's rows in PostgreSQL/TimescaleDB; the same step refreshes
candles_15m..candles_1d for that window (TimescaleDB continuous aggregates refreshed explicitly, or
plain tables filled in SQL), so they are materialized together and always agree.
"""

import datetime as dt

import dagster as dg
import pandas as pd

from ticklake_dagster.asset_metadata import HIGHER_TIMEFRAMES, candles_metadata
from ticklake_dagster.assets.backfill import ticks_backfill_policy
from ticklake_dagster.assets.ticks import r2_ticks
from ticklake_dagster.candles import ROLLUPS, build_candles
from ticklake_dagster.checks import CANDLES_SEVERITIES, CheckSettings, candles_check_specs, candles_findings, summarize_all
from ticklake_dagster.partitions import partition_key, symbol_days, ticks_partitions_def
from ticklake_dagster.pipeline import day_window, load_compacted, refresh_after_write, write_day
from ticklake_dagster.resources import DatabaseResource, LakeResource

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
            name,
            deps=[source],
            group_name="candles",
            kinds={"postgres"},
            description=f"{width} candles rolled up from {source} for the same window (continuous aggregate on TimescaleDB).",
        )
        for name, width, source in ROLLUPS
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
def candles_5m(context: dg.AssetExecutionContext, lake: LakeResource, database: DatabaseResource):
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
        stored = _read_back(conn, [(s, d) for s, d, _, _ in built])
        rollup_rows = _count_rollups(conn, [(s, d) for s, d, _, _ in built])
    for (symbol, day, candles, _), s in zip(built, stats):
        context.log.info(
            f"{symbol} {day}: {len(candles)} candles, {s.inserted} inserted, {s.updated} updated, {s.removed} removed"
        )
    settings, now = CheckSettings.from_env(), utc_now()
    findings = {
        str(partition_key(symbol, day)): candles_findings(stored.get((symbol, day), _EMPTY), symbol, day, n_ticks, now, settings)
        for symbol, day, _, n_ticks in built
    }
    yield dg.MaterializeResult(
        asset_key="candles_5m",
        metadata=candles_metadata([c for _, _, c, _ in built], stats, flavor),
        check_results=summarize_all("candles_5m", findings, CANDLES_SEVERITIES),
    )
    for name in HIGHER_TIMEFRAMES:
        yield dg.MaterializeResult(asset_key=name, metadata={"candle_count": rollup_rows[name], "database_flavor": flavor})


_EMPTY = pd.DataFrame(columns=["time", "open", "high", "low", "close", "trades"])


def _windows(symbol_days: list[tuple[str, dt.date]]) -> dict[str, tuple[dt.datetime, dt.datetime]]:
    """Per symbol, the span of UTC days this run wrote (one range query per symbol)."""
    spans: dict[str, tuple[dt.datetime, dt.datetime]] = {}
    for symbol, day in symbol_days:
        start, end = day_window(day)
        lo, hi = spans.get(symbol, (start, end))
        spans[symbol] = (min(lo, start), max(hi, end))
    return spans


def _read_back(conn, symbol_days: list[tuple[str, dt.date]]) -> dict[tuple[str, dt.date], pd.DataFrame]:
    """The candles now stored for each symbol-day of the run: the checks judge the database, not our intent."""
    wanted = set(symbol_days)
    frames = []
    with conn.cursor() as cur:
        for symbol, (start, end) in _windows(symbol_days).items():
            cur.execute(
                "SELECT symbol, time, open, high, low, close, trades FROM candles_5m"
                " WHERE symbol = %s AND time >= %s AND time < %s ORDER BY time",
                (symbol, start, end),
            )
            frames.append(pd.DataFrame(cur.fetchall(), columns=["symbol", "time", "open", "high", "low", "close", "trades"]))
    rows = pd.concat(frames, ignore_index=True) if frames else _EMPTY.assign(symbol=[])
    if rows.empty:
        return {}
    rows["time"] = pd.to_datetime(rows["time"], utc=True)
    rows["day"] = rows["time"].dt.date
    return {
        (symbol, day): group.drop(columns=["symbol", "day"]).reset_index(drop=True)
        for (symbol, day), group in rows.groupby(["symbol", "day"], sort=False)
        if (symbol, day) in wanted
    }


def _count_rollups(conn, symbol_days: list[tuple[str, dt.date]]) -> dict[str, int]:
    counts = dict.fromkeys(HIGHER_TIMEFRAMES, 0)
    with conn.cursor() as cur:
        for symbol, (start, end) in _windows(symbol_days).items():
            for name in HIGHER_TIMEFRAMES:
                cur.execute(f"SELECT count(*) FROM {name} WHERE symbol = %s AND time >= %s AND time < %s", (symbol, start, end))
                counts[name] += cur.fetchone()[0]
    return counts

