"""Candles in PostgreSQL/TimescaleDB: replace a symbol's window, then bring the higher timeframes up to date."""

import dataclasses
import datetime as dt

import pandas as pd
from psycopg2.extras import execute_values

from ticklake_dagster.migrate import TIMESCALEDB
from ticklake_dagster.timeframes import ROLLUPS

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
    for tf in ROLLUPS:
        cur.execute(f"DELETE FROM {tf.relation} WHERE symbol = %s AND time >= %s AND time < %s", (symbol, start, end))
        cur.execute(
            f"""
            INSERT INTO {tf.relation} (time, symbol, open, high, low, close, trades, spread_avg)
            SELECT date_bin(INTERVAL '{tf.interval}', time, TIMESTAMPTZ '{_BUCKET_ORIGIN}') AS bucket, symbol,
                   (array_agg(open ORDER BY time))[1], max(high), min(low),
                   (array_agg(close ORDER BY time DESC))[1], sum(trades),
                   sum(spread_avg * trades) / sum(trades)
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


def write_window(cur, flavor: str, symbol: str, start: dt.datetime, end: dt.datetime, candles: pd.DataFrame) -> WriteStats:
    """Replace the window's 5-minute candles; on plain PostgreSQL also recompute its rollup tables.

    TimescaleDB's continuous aggregates are refreshed by the caller, once per run, outside the transaction.
    """
    stats = replace_candles(cur, symbol, start, end, candles)
    if flavor != TIMESCALEDB:
        fill_rollups(cur, symbol, start, end)
    return stats
