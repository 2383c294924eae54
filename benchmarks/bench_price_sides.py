"""Candle queries of the price sides and the session bars, on 5 years of one FX symbol in PostgreSQL.

Five years of EURUSD 5-minute candles (every open-market bucket, ~375k rows with bid, ask and mid OHLC and
volumes) are copied into candles_5m and rolled up into 15m..12h by the materialization's own SQL. Then, in
the same run, through `CandleStore.candles_json` (the API's query path, without HTTP):
- 1,000 5m candles at random windows: price=mid and price=bid, next to the query the API ran before the
  price sides existed (mid only, no volumes), p50/p99;
- session bars over the whole 5 years: 1d (17:00 New York), 1w, 1M, and 1h, each built or read at query time,
  next to the naive way: fetch the 1h rows and group them in pandas by the New York trade date.

Usage: python benchmarks/bench_price_sides.py [--years 5] [--requests 1000] [--repeat 20]
(DATABASE_URL to use your own PostgreSQL/TimescaleDB; otherwise an embedded one in a temp folder).
"""

import argparse
import datetime as dt
import io
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ticklake_dagster.api.sql import CandleStore  # noqa: E402
from ticklake_dagster.candles.database import stop_embedded_server  # noqa: E402
from ticklake_dagster.candles.sql import fill_rollups, refresh_continuous_aggregates  # noqa: E402
from ticklake_dagster.core.sessions import session_for  # noqa: E402
from ticklake_dagster.core.timeframes import CANDLE_COLUMNS  # noqa: E402
from ticklake_dagster.defs.resources import DatabaseResource  # noqa: E402

SYMBOL = "EURUSD"
LAST_DAY = dt.date(2025, 11, 14)
WINDOW = 1000
# The API's candle query before the price sides: the mid's OHLC, ticks and spread.
MID_ONLY_SQL = """
SELECT coalesce(json_agg(c ORDER BY c.time), '[]')::text
FROM (SELECT date_part('epoch', time)::bigint AS time, open, high, low, close, trades, spread_avg FROM candles_5m
      WHERE symbol = %s AND time >= %s AND time <= %s
        AND greatest(abs(open), abs(high), abs(low), abs(close)) < 'Infinity'::float8
      ORDER BY candles_5m.time LIMIT %s) AS c
"""


def open_buckets(first: dt.date, last: dt.date) -> np.ndarray:
    """The 5-minute bucket starts (epoch ms) inside the symbol's open hours."""
    start = int(dt.datetime.combine(first, dt.time(), dt.timezone.utc).timestamp() * 1000)
    end = int(dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), dt.timezone.utc).timestamp() * 1000)
    spans = session_for(SYMBOL).open_spans(start, end)
    return np.concatenate([np.arange(lo // 300_000 * 300_000, hi, 300_000) for lo, hi in spans])


def synthetic_candles(times_ms: np.ndarray, seed: int = 7) -> pd.DataFrame:
    """Consistent candles of all three sides: a mid random walk, a spread, the bid and ask around it."""
    rng = np.random.default_rng(seed)
    n = len(times_ms)
    close = 1.1 + np.cumsum(rng.normal(0, 2e-4, n))
    open_ = np.r_[1.1, close[:-1]]
    high = np.maximum(open_, close) + np.abs(rng.normal(0, 1e-4, n))
    low = np.minimum(open_, close) - np.abs(rng.normal(0, 1e-4, n))
    half = rng.uniform(2e-5, 8e-5, n)
    frame = {"time": times_ms, "open": open_, "high": high, "low": low, "close": close}
    frame["trades"] = rng.integers(10, 400, n)
    frame["spread_avg"] = 2 * half
    for side, sign in (("bid", -1), ("ask", 1)):
        for column in ("open", "high", "low", "close"):
            frame[f"{side}_{column}"] = frame[column] + sign * half
    frame["bid_volume"] = rng.uniform(1e5, 5e7, n).round()
    frame["ask_volume"] = rng.uniform(1e5, 5e7, n).round()
    return pd.DataFrame(frame, columns=list(CANDLE_COLUMNS))


def fill(database: DatabaseResource, flavor: str, candles: pd.DataFrame, first: dt.date, last: dt.date) -> float:
    """COPY the 5m candles in, then roll them up as the materialization does; returns the seconds it took."""
    t0 = time.perf_counter()
    out = candles.copy()
    out.insert(1, "symbol", SYMBOL)
    out["time"] = pd.to_datetime(out["time"], unit="ms", utc=True).dt.strftime("%Y-%m-%d %H:%M:%S+00")
    text = io.StringIO()
    out.to_csv(text, index=False, header=False)
    text.seek(0)
    start = dt.datetime.combine(first, dt.time(), dt.timezone.utc)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), dt.timezone.utc)
    with database.connect() as conn:
        with conn, conn.cursor() as cur:
            cur.execute("DELETE FROM candles_5m WHERE symbol = %s", (SYMBOL,))
            cur.copy_expert(f"COPY candles_5m (time, symbol, {', '.join(CANDLE_COLUMNS[1:])}) FROM STDIN CSV", text)
            if flavor != "timescaledb":
                fill_rollups(cur, SYMBOL, start, end)
        if flavor == "timescaledb":
            refresh_continuous_aggregates(conn, start, end)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("VACUUM ANALYZE")
    return time.perf_counter() - t0


def timed(fn, repeat: int) -> list[float]:
    fn()  # warm
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def p(samples: list[float]) -> str:
    return f"p50 {np.percentile(samples, 50):7.2f} ms  p99 {np.percentile(samples, 99):7.2f} ms"


def naive_daily(database: DatabaseResource, start: dt.datetime, end: dt.datetime) -> list[dict]:
    """The 1h rows into pandas, grouped by the New York trade date (17:00 roll), bar start in UTC."""
    with database.connect() as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT time, bid_open, bid_high, bid_low, bid_close, trades FROM candles_1h"
            " WHERE symbol = %s AND time >= %s AND time < %s ORDER BY time",
            (SYMBOL, start, end),
        )
        frame = pd.DataFrame(cur.fetchall(), columns=["time", "open", "high", "low", "close", "trades"])
    local = pd.to_datetime(frame["time"], utc=True).dt.tz_convert("America/New_York")
    trade_date = (local + pd.Timedelta(hours=7)).dt.tz_localize(None).dt.floor("D")
    grouped = frame.groupby(trade_date.to_numpy())
    bars = grouped.agg(open=("open", "first"), high=("high", "max"), low=("low", "min"), close=("close", "last"))
    bars["trades"] = grouped["trades"].sum()
    starts = (bars.index - pd.Timedelta(hours=7)).tz_localize("America/New_York").tz_convert("UTC")
    bars.insert(0, "time", starts.as_unit("s").asi8)
    return bars.reset_index(drop=True).to_dict(orient="records")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    first = LAST_DAY - dt.timedelta(days=365 * args.years)
    with tempfile.TemporaryDirectory() as home:
        database = DatabaseResource(url=os.environ.get("DATABASE_URL"), home=home)
        try:
            flavor = database.ensure_schema()
            times = open_buckets(first, LAST_DAY)
            candles = synthetic_candles(times)
            seconds = fill(database, flavor, candles, first, LAST_DAY)
            print(f"{flavor}: {len(candles):,} 5m candles of {SYMBOL} {first}..{LAST_DAY} copied and rolled up")
            print(f"  in {seconds:.1f} s")
            store = CandleStore(database, migrate=False, request_timeout_s=60, statement_timeout_ms=60_000)
            run(store, database, times, args, first)
            store.close()
        finally:
            if not os.environ.get("DATABASE_URL"):
                stop_embedded_server(Path(home) / "pg")


def run(store: CandleStore, database: DatabaseResource, times: np.ndarray, args, first: dt.date) -> None:
    rng = random.Random(42)
    starts = [int(times[rng.randrange(0, len(times) - WINDOW)]) // 1000 for _ in range(args.requests)]
    windows = [(s, s + (WINDOW - 1) * 300) for s in starts]

    def sample(fn) -> list[float]:
        out = []
        for s, e in windows:
            t0 = time.perf_counter()
            fn(s, e)
            out.append((time.perf_counter() - t0) * 1000)
        return out

    def mid_only(s, e):
        def work(query):
            return query(
                MID_ONLY_SQL,
                (
                    SYMBOL,
                    dt.datetime.fromtimestamp(s, dt.timezone.utc),
                    dt.datetime.fromtimestamp(e, dt.timezone.utc),
                    WINDOW,
                ),
            ).fetchone()[0]

        return store._run(work)

    for s, e in windows[:30]:  # warm the pool and the cache
        store.candles_json(SYMBOL, "5m", s, e, WINDOW, "bid")
    print(f"\n1,000 5m candles at {args.requests} random windows (CandleStore.candles_json, one connection):")
    before = sample(mid_only)
    mid = sample(lambda s, e: store.candles_json(SYMBOL, "5m", s, e, WINDOW, "mid"))
    bid = sample(lambda s, e: store.candles_json(SYMBOL, "5m", s, e, WINDOW, "bid"))
    print(f"  mid only (the query before price sides)   {p(before)}")
    print(f"  price=mid                                 {p(mid)}")
    print(f"  price=bid                                 {p(bid)}")
    print(f"  price=bid p99 / mid-only p99: {np.percentile(bid, 99) / np.percentile(before, 99):.2f}x (target <= 1.2x)")

    start = int(dt.datetime.combine(first, dt.time(), dt.timezone.utc).timestamp())
    end = int(dt.datetime.combine(LAST_DAY, dt.time(23, 59), dt.timezone.utc).timestamp())
    print(f"\n{args.years} years of bars, price=bid ({args.repeat} runs each):")
    for timeframe in ("1d", "1w", "1M", "1h"):
        body = store.candles_json(SYMBOL, timeframe, start, end, 100_000, "bid")
        count = len(json.loads(body))
        samples = timed(lambda tf=timeframe: store.candles_json(SYMBOL, tf, start, end, 100_000, "bid"), args.repeat)
        print(f"  {timeframe:>3}: {count:6,} bars  {p(samples)}")
    span = (dt.datetime.fromtimestamp(start, dt.timezone.utc), dt.datetime.fromtimestamp(end, dt.timezone.utc))
    naive = timed(lambda: naive_daily(database, *span), max(3, args.repeat // 4))
    ours = json.loads(store.candles_json(SYMBOL, "1d", start, end, 100_000, "bid"))
    theirs = naive_daily(database, *span)
    same = [c["time"] for c in ours] == [c["time"] for c in theirs[-len(ours) :]]
    print(f"  naive 1d (1h rows to pandas, grouped by New York trade date): {p(naive)}; same bar starts: {same}")


if __name__ == "__main__":
    main()
