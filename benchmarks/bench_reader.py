"""read_ticks / read_candles next to the naive way (pandas read_parquet + resample) and the decode cost, one run.

A file lake of compacted 100k-tick days (sorted, as r2_ticks writes them). For a week of days:
- decode only: pyarrow reading the columns (the floor any reader pays);
- read_ticks: ticklake's reader (compacted file -> validated frame with UTC timestamps);
- read_candles at 1m, 30m and 1d (FX session bars) against pandas read_parquet + resample of the mid.

Usage: python benchmarks/bench_reader.py [--ticks 100000] [--days 5] [--repeat 5]
"""

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ticklake_dagster import read_candles, read_ticks  # noqa: E402
from ticklake_dagster.core.days import day_start_ms  # noqa: E402
from ticklake_dagster.lake.keys import daily_key  # noqa: E402
from ticklake_dagster.lake.parts import daily_table, table_to_parquet  # noqa: E402
from ticklake_dagster.lake.storage import FileLake  # noqa: E402

SYMBOL = "EURUSD"
FIRST = dt.date(2025, 1, 6)  # a Monday


def write_day(lake: FileLake, day: dt.date, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    ts = np.sort(day_start_ms(day) + rng.integers(0, 86_400_000, n)).astype("int64")
    mid = 1.1 + np.cumsum(rng.normal(0, 2e-5, n))
    half = rng.uniform(2e-6, 2e-5, n)
    lake.put(
        daily_key(SYMBOL, day),
        table_to_parquet(daily_table(pd.DataFrame({"ts_ms": ts, "bid": mid - half, "ask": mid + half}))),
    )


def synthetic_lake(n_days: int, ticks: int, prefix: str) -> tuple[Path, FileLake, list[dt.date]]:
    """A file lake in a new temp folder holding `n_days` compacted days of `ticks` ticks from FIRST."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    lake = FileLake(root)
    days = [FIRST + dt.timedelta(days=i) for i in range(n_days)]
    for i, day in enumerate(days):
        write_day(lake, day, ticks, i)
    return root, lake, days


def best(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return min(samples), statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ticks", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    root, lake, days = synthetic_lake(args.days, args.ticks, "ticklake-bench-reader-")
    url = f"file://{root}"
    files = [root / daily_key(SYMBOL, d) for d in days]
    total = args.ticks * args.days
    last = days[-1].isoformat()

    def decode():
        for f in files:
            pq.read_table(f, columns=["ts", "bid", "ask"])

    def naive(rule: str):
        for f in files:
            frame = pd.read_parquet(f)
            mid = ((frame["bid"] + frame["ask"]) / 2).set_axis(frame["ts"])
            r = mid.resample(rule)
            out = pd.DataFrame({"open": r.first(), "high": r.max(), "low": r.min(), "close": r.last(), "n": r.count()})
            out[out["n"] > 0]

    glob = f"{root}/ticks_daily/symbol={SYMBOL}/*/*.parquet"

    def duck_candles(width: str):
        duckdb.sql(
            f"SELECT time_bucket(INTERVAL {width}, ts) AS time, arg_min((bid + ask) / 2, (ts, file_row_number)),"
            " max((bid + ask) / 2), min((bid + ask) / 2), arg_max((bid + ask) / 2, (ts, file_row_number)), count(*)"
            f" FROM read_parquet('{glob}', file_row_number = true) GROUP BY ALL ORDER BY time"
        ).df()

    rows = [("decode only (pyarrow read_table)", best(decode, args.repeat))]
    rows.append(
        ("DuckDB read_parquet -> pandas", best(lambda: duckdb.sql(f"SELECT * FROM '{glob}'").df(), args.repeat))
    )
    rows.append(("read_ticks", best(lambda: read_ticks(SYMBOL, days[0], last, lake_url=url), args.repeat)))
    for tf, rule in (("1m", "1min"), ("30m", "30min")):
        rows.append((f"naive {tf} (read_parquet + resample)", best(lambda rule=rule: naive(rule), args.repeat)))
        width = {"1m": "1 MINUTE", "30m": "30 MINUTE"}[tf]
        rows.append((f"DuckDB SQL {tf} (time_bucket)", best(lambda width=width: duck_candles(width), args.repeat)))
        rows.append(
            (
                f"read_candles {tf}",
                best(lambda tf=tf: read_candles(SYMBOL, tf, days[0], last, lake_url=url), args.repeat),
            )
        )
    rows.append(
        (
            "read_candles 1d (17:00 New York bars)",
            best(lambda: read_candles(SYMBOL, "1d", days[0], last, lake_url=url), args.repeat),
        )
    )
    print(f"{args.days} compacted days x {args.ticks:,} ticks on a file lake, best / median of {args.repeat}:")
    for name, (low, mid) in rows:
        print(f"  {name:42s} {low * 1000:8.1f} ms  {mid * 1000:8.1f} ms   {total / low / 1e6:6.1f} M ticks/s")
    lookup = dict(rows)
    for tf in ("1m", "30m"):
        ratio = lookup[f"naive {tf} (read_parquet + resample)"][0] / lookup[f"read_candles {tf}"][0]
        over_decode = lookup[f"read_candles {tf}"][0] / lookup["decode only (pyarrow read_table)"][0]
        duck = lookup[f"DuckDB SQL {tf} (time_bucket)"][0] / lookup[f"read_candles {tf}"][0]
        print(
            f"  read_candles {tf} is {ratio:.1f}x the naive path's speed, {duck:.1f}x DuckDB's;"
            f" {over_decode:.1f}x the decode cost"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
