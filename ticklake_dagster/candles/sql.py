"""The candle SQL: replace a symbol's window, bring the higher timeframes up to date, read candles back,
apply retention.
"""

import dataclasses
import datetime as dt
import hashlib

import pandas as pd
from psycopg2.extras import execute_values

from ticklake_dagster.candles.migrations import TIMESCALEDB
from ticklake_dagster.core.days import day_window, utc_midnight
from ticklake_dagster.core.timeframes import CANDLE_COLUMNS, CANDLES_PER_DAY, PRICES, ROLLUPS, VOLUMES, side_columns

# The same origin TimescaleDB's time_bucket uses for sub-month widths: a Monday at midnight UTC.
_BUCKET_ORIGIN = "2000-01-03 00:00:00+00"


@dataclasses.dataclass
class WriteStats:
    inserted: int
    updated: int
    removed: int

    @property
    def upserted(self) -> int:
        return self.inserted + self.updated


def _column(candles: pd.DataFrame, name: str) -> list:
    """A column as Python values for execute_values; NaN (a volume the ticks lacked) goes in as NULL."""
    if name == "trades":
        return candles[name].astype(int).tolist()
    values = candles[name].to_numpy(dtype="float64")
    if name in VOLUMES or name == "spread_avg":
        return [None if v != v else v for v in values.tolist()]
    return values.tolist()


_STORED = CANDLE_COLUMNS[1:]  # every column after `time`
_INSERT_SQL = f"INSERT INTO candles_5m (time, symbol, {', '.join(_STORED)}) VALUES %s"


def replace_candles(cur, symbol: str, start: dt.datetime, end: dt.datetime, candles: pd.DataFrame) -> WriteStats:
    """Make candles_5m hold exactly `candles` for symbol in [start, end): delete the window, insert.

    Runs in the caller's transaction, so readers see the old window or the new one, never a gap.
    """
    cur.execute(
        "DELETE FROM candles_5m WHERE symbol = %s AND time >= %s AND time < %s RETURNING time",
        (symbol, start, end),
    )
    before = {row[0] for row in cur.fetchall()}
    times = pd.to_datetime(candles["time"].to_numpy(), unit="ms", utc=True)
    rows = list(zip(times.to_pydatetime(), [symbol] * len(candles), *(_column(candles, c) for c in _STORED)))
    if rows:
        execute_values(
            cur,
            _INSERT_SQL,
            rows,
            # Half a day of 5-minute candles per statement: a statement of a whole day's 18 columns (5,184
            # parameters) crashes the PGlite TimescaleDB test server; 200 rows pass. Measured: no slower.
            page_size=CANDLES_PER_DAY // 2,
        )
    after = set(times.to_pydatetime())
    return WriteStats(inserted=len(after - before), updated=len(after & before), removed=len(before - after))


def rollup_expressions() -> dict[str, str]:
    """How each candle column after `time` aggregates a run of lower-timeframe candles, in plain SQL.

    First open and last close by time, max high, min low, summed ticks and volumes, a tick-weighted spread.
    The same rules the continuous aggregates (migrations) and the lake's rollups (from_lake.py) apply.
    """
    exprs = {}
    for price in PRICES:
        o, h, lo, c = side_columns(price)
        exprs[o] = f"(array_agg({o} ORDER BY time))[1]"
        exprs[h] = f"max({h})"
        exprs[lo] = f"min({lo})"
        exprs[c] = f"(array_agg({c} ORDER BY time DESC))[1]"
    exprs["trades"] = "sum(trades)"
    exprs["spread_avg"] = "sum(spread_avg * trades) / sum(trades)"
    exprs.update({v: f"sum({v})" for v in VOLUMES})
    return {name: exprs[name] for name in _STORED}


def fill_rollups(cur, symbol: str, start: dt.datetime, end: dt.datetime) -> None:
    """Plain PostgreSQL: recompute every higher-timeframe table for the window, lowest level first.

    `start`/`end` must be aligned to the widest bucket (a UTC day) so no bucket is cut in half.
    """
    aggregates = ", ".join(rollup_expressions().values())
    for tf in ROLLUPS:
        cur.execute(f"DELETE FROM {tf.relation} WHERE symbol = %s AND time >= %s AND time < %s", (symbol, start, end))
        cur.execute(
            f"""
            INSERT INTO {tf.relation} (time, symbol, {", ".join(_STORED)})
            SELECT date_bin(INTERVAL '{tf.interval}', time, TIMESTAMPTZ '{_BUCKET_ORIGIN}') AS bucket, symbol,
                   {aggregates}
            FROM {tf.source}
            WHERE symbol = %s AND time >= %s AND time < %s
            GROUP BY bucket, symbol
            """,
            (symbol, start, end),
        )


def refresh_continuous_aggregates(conn, start: dt.datetime, end: dt.datetime) -> None:
    """TimescaleDB: refresh each continuous aggregate for the window, lowest level first.

    Real-time aggregation is off, so without this a backfilled day stays invisible until a policy
    fires (and policies never reach days older than their start_offset). Must run outside a
    transaction block.
    """
    previous = conn.autocommit
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for tf in ROLLUPS:
                cur.execute("CALL refresh_continuous_aggregate(%s, %s, %s)", (tf.relation, start, end))
    finally:
        conn.autocommit = previous


def window_lock_key(symbol: str, day: dt.date) -> int:
    """A signed 64-bit advisory-lock key for one symbol-day, the same in every process."""
    digest = hashlib.blake2b(f"ticklake:candles:{symbol}:{day.isoformat()}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock_window(cur, symbol: str, start: dt.datetime, end: dt.datetime) -> None:
    """Wait until no other transaction writes the symbol's days in [start, end); held until ours ends.

    Without it two writers of a day (the UI, the sensor, the schedule, a user's CLI) both delete the
    empty window, and the second INSERT fails with UniqueViolation once the first commits. Days are
    locked in order, so two writers of overlapping windows cannot deadlock.
    """
    first = start.astimezone(dt.timezone.utc).date()
    last = (end - dt.timedelta(microseconds=1)).astimezone(dt.timezone.utc).date()
    for i in range((last - first).days + 1):
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (window_lock_key(symbol, first + dt.timedelta(days=i)),))


def write_window(
    cur, flavor: str, symbol: str, start: dt.datetime, end: dt.datetime, candles: pd.DataFrame
) -> WriteStats:
    """Replace the window's 5-minute candles; on plain PostgreSQL also recompute its rollup tables.

    TimescaleDB's continuous aggregates are refreshed by the caller, once per run, outside the transaction.
    Concurrent writers of the same symbol-days take turns (lock_window), and each one's result is whole.
    """
    lock_window(cur, symbol, start, end)
    stats = replace_candles(cur, symbol, start, end, candles)
    if flavor != TIMESCALEDB:
        fill_rollups(cur, symbol, start, end)
    return stats


# --- reading back what a run wrote ---------------------------------------------------------------

EMPTY_CANDLES = pd.DataFrame(columns=["time", "open", "high", "low", "close", "trades"])


def _windows(symbol_days: list[tuple[str, dt.date]]) -> dict[str, tuple[dt.datetime, dt.datetime]]:
    """Per symbol, the span of UTC days this run wrote (one range query per symbol)."""
    spans: dict[str, tuple[dt.datetime, dt.datetime]] = {}
    for symbol, day in symbol_days:
        start, end = day_window(day)
        lo, hi = spans.get(symbol, (start, end))
        spans[symbol] = (min(lo, start), max(hi, end))
    return spans


def read_back(conn, symbol_days: list[tuple[str, dt.date]]) -> dict[tuple[str, dt.date], pd.DataFrame]:
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
            frames.append(
                pd.DataFrame(cur.fetchall(), columns=["symbol", "time", "open", "high", "low", "close", "trades"])
            )
    rows = pd.concat(frames, ignore_index=True) if frames else EMPTY_CANDLES.assign(symbol=[])
    if rows.empty:
        return {}
    rows["time"] = pd.to_datetime(rows["time"], utc=True)
    rows["day"] = rows["time"].dt.date
    return {
        (symbol, day): group.drop(columns=["symbol", "day"]).reset_index(drop=True)
        for (symbol, day), group in rows.groupby(["symbol", "day"], sort=False)
        if (symbol, day) in wanted
    }


def count_rollups(conn, symbol_days: list[tuple[str, dt.date]]) -> dict[str, int]:
    counts = {tf.relation: 0 for tf in ROLLUPS}
    with conn.cursor() as cur:
        for symbol, (start, end) in _windows(symbol_days).items():
            for name in counts:
                cur.execute(
                    f"SELECT count(*) FROM {name} WHERE symbol = %s AND time >= %s AND time < %s", (symbol, start, end)
                )
                counts[name] += cur.fetchone()[0]
    return counts


@dataclasses.dataclass(frozen=True)
class MidOnly:
    """A symbol's candles written before the price sides (migration 0004): they hold no bid or ask yet."""

    symbol: str
    first: dt.date
    last: dt.date
    rows: int


def mid_only_candles(conn) -> list[MidOnly]:
    """Per symbol, the span of candles_5m rows without a bid: `ticklake materialize` over it fills them."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT symbol, min(time), max(time), count(*) FROM candles_5m WHERE bid_open IS NULL"
            " GROUP BY symbol ORDER BY symbol"
        )
        rows = cur.fetchall()
    utc = dt.timezone.utc
    return [MidOnly(s, lo.astimezone(utc).date(), hi.astimezone(utc).date(), n) for s, lo, hi, n in rows]


# --- retention -----------------------------------------------------------------------------------


def retention_cutoff(now: dt.datetime, days: int) -> dt.datetime:
    """Midnight UTC `days` days before today: candles before it go."""
    return utc_midnight(now.astimezone(dt.timezone.utc).date() - dt.timedelta(days=days))


@dataclasses.dataclass
class RetentionResult:
    flavor: str
    cutoff: dt.datetime
    rows_deleted: int | None  # plain PostgreSQL
    chunks_dropped: int | None  # TimescaleDB
    policy: str | None


def apply_retention(conn, flavor: str, days: int, now: dt.datetime) -> RetentionResult:
    """Enforce the window now; on TimescaleDB also (re)install the matching background retention policy."""
    cutoff = retention_cutoff(now, days)
    with conn, conn.cursor() as cur:
        if flavor != TIMESCALEDB:
            cur.execute("DELETE FROM candles_5m WHERE time < %s", (cutoff,))
            return RetentionResult(flavor, cutoff, cur.rowcount, None, None)
        interval = f"{days} days"
        cur.execute(
            "SELECT config->>'drop_after' FROM timescaledb_information.jobs"
            " WHERE proc_name = 'policy_retention' AND hypertable_name = 'candles_5m'"
        )
        row = cur.fetchone()
        if row is None or row[0] != interval:
            cur.execute("SELECT remove_retention_policy('candles_5m', if_exists => TRUE)")
            cur.execute("SELECT add_retention_policy('candles_5m', drop_after => %s::interval)", (interval,))
        cur.execute("SELECT count(*) FROM drop_chunks('candles_5m', older_than => %s::timestamptz)", (cutoff,))
        dropped = cur.fetchone()[0]
        return RetentionResult(flavor, cutoff, None, dropped, f"drop_after {interval}")


def write_day(conn, flavor: str, symbol: str, day: dt.date, candles: pd.DataFrame) -> WriteStats:
    """Replace one symbol-day's candles in its own transaction (rollup tables too on plain PostgreSQL)."""
    start, end = day_window(day)
    with conn, conn.cursor() as cur:
        return write_window(cur, flavor, symbol, start, end, candles)


def refresh_after_write(conn, flavor: str | None, days: list[dt.date]) -> None:
    """On TimescaleDB, refresh the continuous aggregates once over every day just written."""
    if flavor == TIMESCALEDB and days:
        refresh_continuous_aggregates(conn, day_window(min(days))[0], day_window(max(days))[1])
