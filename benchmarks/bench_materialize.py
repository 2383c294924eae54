"""One symbol-day of 1,000,000 ticks from raw parts to candles in PostgreSQL: ticklake vs a naive pandas pipeline.

Both run in the same process on the same parts and the same database, so the ratio holds on a noisy
machine. Usage: python benchmarks/bench_materialize.py [--ticks N] [--repeat R]
(DATABASE_URL to use your own PostgreSQL/TimescaleDB; otherwise an embedded one in a temp folder).
"""

import argparse
import datetime as dt
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ticklake_dagster.candles.building import build_candles  # noqa: E402
from ticklake_dagster.candles.database import stop_embedded_server  # noqa: E402
from ticklake_dagster.candles.sql import refresh_after_write, write_day  # noqa: E402
from ticklake_dagster.core.days import day_start_ms  # noqa: E402
from ticklake_dagster.defs.resources import DatabaseResource  # noqa: E402
from ticklake_dagster.lake.keys import raw_day_prefix, raw_part_key  # noqa: E402
from ticklake_dagster.lake.parts import ticks_to_parquet  # noqa: E402
from ticklake_dagster.lake.storage import FileLake  # noqa: E402
from ticklake_dagster.sources.synthetic import RandomWalk, batch_bounds  # noqa: E402
from ticklake_dagster.ticks.compaction import compact_day

SYMBOL, DAY = "EURUSD", dt.date(2025, 11, 13)


def seed(lake: FileLake, n: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(42)
    ts = np.sort(rng.integers(0, 86_400_000, n)) + day_start_ms(DAY)
    bid, ask = RandomWalk(SYMBOL, seed=1).step(n)
    raw_bytes = 0
    for i, j in batch_bounds(ts, max_ticks=1000):
        data = ticks_to_parquet(ts[i:j], bid[i:j], ask[i:j])
        lake.put(raw_part_key(SYMBOL, DAY, int(ts[i])), data)
        raw_bytes += len(data)
    return raw_bytes, ts, bid, ask


def ticklake_pipeline(lake: FileLake, database: DatabaseResource, flavor: str) -> tuple[int, int]:
    result = compact_day(lake, SYMBOL, DAY)
    candles = build_candles(result.ticks)
    with database.connect() as conn:
        write_day(conn, flavor, SYMBOL, DAY, candles)
        refresh_after_write(conn, flavor, [DAY])
    return len(candles), result.bytes_written


def naive_pipeline(lake: FileLake, database: DatabaseResource) -> int:
    """What one writes first: read every part with pandas, resample('5min'), insert the rows."""
    frames = [pd.read_parquet(io.BytesIO(lake.get(o.key))) for o in lake.list(raw_day_prefix(SYMBOL, DAY))]
    df = pd.concat(frames).drop_duplicates().sort_values("ts").set_index("ts")
    mid = (df["bid"] + df["ask"]) / 2
    ohlc = mid.resample("5min").ohlc()
    ohlc["trades"] = mid.resample("5min").count()
    ohlc["spread_avg"] = (df["ask"] - df["bid"]).resample("5min").mean()
    ohlc = ohlc[ohlc["trades"] > 0]
    with database.connect() as conn, conn, conn.cursor() as cur:
        cur.execute("DELETE FROM candles_5m WHERE symbol = %s", (SYMBOL + "_NAIVE",))
        cur.executemany(
            "INSERT INTO candles_5m (time, symbol, open, high, low, close, trades, spread_avg) "
            "VALUES (%s,%s,%s,%s,%s,%s,%s,%s)",
            [
                (
                    t.to_pydatetime(),
                    SYMBOL + "_NAIVE",
                    float(r.open),
                    float(r.high),
                    float(r.low),
                    float(r.close),
                    int(r.trades),
                    float(r.spread_avg),
                )
                for t, r in ohlc.iterrows()
            ],
        )
    return len(ohlc)


def best_of(repeat: int, fn):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ticks", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        lake = FileLake(Path(tmp) / "lake")
        database = DatabaseResource(url=os.environ.get("DATABASE_URL"), home=tmp)
        flavor = database.ensure_schema()
        t0 = time.perf_counter()
        raw_bytes, ts, bid, ask = seed(lake, args.ticks)
        print(
            f"seeded {args.ticks:,} ticks in {len(list(lake.list('ticks/'))):,} parts "
            f"({time.perf_counter() - t0:.1f}s); "
            f"database {database.describe()} ({flavor})"
        )
        t_fast, (n_fast, compacted_bytes) = best_of(args.repeat, lambda: ticklake_pipeline(lake, database, flavor))
        t_naive, n_naive = best_of(args.repeat, lambda: naive_pipeline(lake, database))
        assert n_fast == n_naive, (n_fast, n_naive)
        json_bytes = len(
            json.dumps(
                [
                    {"timestamp": t / 1000, "bid": b, "ask": a}
                    for t, b, a in zip(ts.tolist(), bid.tolist(), ask.tolist())
                ]
            ).encode()
        )
        n = args.ticks
        print(f"\n{'pipeline':<44}{'seconds':>9}{'ticks/s':>14}")
        print(f"{'ticklake (compact + candles + PostgreSQL)':<44}{t_fast:>9.2f}{n / t_fast:>14,.0f}")
        print(f"{'naive pandas resample + executemany':<44}{t_naive:>9.2f}{n / t_naive:>14,.0f}")
        print(f"speed-up: {t_naive / t_fast:.1f}x  ({n_fast} candles each, best of {args.repeat})")
        print(
            f"\nbytes per tick: raw Parquet parts {raw_bytes / n:.2f}, compacted day {compacted_bytes / n:.2f}, "
            f"legacy JSON parts {json_bytes / n:.2f}"
        )
        if not os.environ.get("DATABASE_URL"):
            stop_embedded_server(Path(tmp) / "pg")


if __name__ == "__main__":
    main()
