"""Candles in PostgreSQL/TimescaleDB: replace a symbol's window, then bring the higher timeframes up to date."""

import dataclasses
import hashlib
import datetime as dt

import pandas as pd
from psycopg2.extras import execute_values

from ticklake_dagster.candles import ROLLUPS
from ticklake_dagster.migrate import TIMESCALEDB

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
    rows = list(
        zip(
            times.to_pydatetime(),
            [symbol] * len(candles),
            candles["open"].tolist(),
            candles["high"].tolist(),
            candles["low"].tolist(),
            candles["close"].tolist(),
            candles["trades"].astype(int).tolist(),
            candles["spread_avg"].tolist(),
        )
    )
    if rows:
        execute_values(
            cur,
            "INSERT INTO candles_5m (time, symbol, open, high, low, close, trades, spread_avg) VALUES %s",
            rows,
            page_size=2000,
        )
    after = set(times.to_pydatetime())
    return WriteStats(inserted=len(after - before), updated=len(after & before), removed=len(before - after))


def fill_rollups(cur, symbol: str, start: dt.datetime, end: dt.datetime) -> None:
    """Plain PostgreSQL: recompute every higher-timeframe table for the window, lowest level first.

    `start`/`end` must be aligned to the widest bucket (a UTC day) so no bucket is cut in half.
    """
    for name, width, source in ROLLUPS:
        cur.execute(f"DELETE FROM {name} WHERE symbol = %s AND time >= %s AND time < %s", (symbol, start, end))
        cur.execute(
            f"""
            INSERT INTO {name} (time, symbol, open, high, low, close, trades, spread_avg)
            SELECT date_bin(INTERVAL '{width}', time, TIMESTAMPTZ '{_BUCKET_ORIGIN}') AS bucket, symbol,
                   (array_agg(open ORDER BY time))[1], max(high), min(low),
                   (array_agg(close ORDER BY time DESC))[1], sum(trades),
                   sum(spread_avg * trades) / sum(trades)
            FROM {source}
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
            for name, _, _ in ROLLUPS:
                cur.execute("CALL refresh_continuous_aggregate(%s, %s, %s)", (name, start, end))
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


def write_window(cur, flavor: str, symbol: str, start: dt.datetime, end: dt.datetime, candles: pd.DataFrame) -> WriteStats:
    """Replace the window's 5-minute candles; on plain PostgreSQL also recompute its rollup tables.

    Concurrent writers of the same symbol-days take turns (lock_window), and each one's result is whole.

    TimescaleDB's continuous aggregates are refreshed by the caller, once per run, outside the transaction.
    """
    lock_window(cur, symbol, start, end)
    stats = replace_candles(cur, symbol, start, end, candles)
    if flavor != TIMESCALEDB:
        fill_rollups(cur, symbol, start, end)
    return stats
