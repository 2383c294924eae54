"""Candles built on demand from the lake's compacted days, next to the naive way, in the same run.

1. One lake-only day of 100k ticks -> 288 five-minute candles on a file lake, warm (the file in the OS
   page cache, not in the API's day cache): ticklake's path (Parquet read, numpy reduceat) against the
   naive one (pandas read_parquet, then resample of the day's ticks). Also the API's cached answer.
2. A 31-day 1h request, cold (a new day cache; the OS may still hold the files: dropping it needs
   root): build 31 days in parallel, roll up to 1h, shape the JSON; naive: read and resample each day.

Usage: python benchmarks/bench_ondemand.py [--ticks 100000] [--days 31] [--repeat 20]
"""

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_reader import FIRST, SYMBOL, write_day  # noqa: E402

from ticklake_dagster.candles.from_lake import LakeCandles, day_seconds, to_records  # noqa: E402
from ticklake_dagster.lake.keys import daily_key  # noqa: E402
from ticklake_dagster.lake.storage import FileLake  # noqa: E402


def naive(lake: FileLake, day: dt.date, rule: str) -> list[dict]:
    """pandas: read the whole file, resample the mid price."""
    frame = pd.read_parquet(lake.root / daily_key(SYMBOL, day))
    mid = ((frame["bid"] + frame["ask"]) / 2).set_axis(frame["ts"])
    r = mid.resample(rule)
    out = pd.DataFrame({"open": r.first(), "high": r.max(), "low": r.min(), "close": r.last(), "trades": r.count()})
    out = out[out["trades"] > 0]
    return [
        {"time": int(t.timestamp()), "open": o, "high": h, "low": lo, "close": c, "trades": int(k)}
        for t, o, h, lo, c, k in out.itertuples()
    ]


def duck_day(lake: FileLake, day: dt.date) -> list[tuple]:
    """DuckDB: the same 5m mid candles in SQL (first/last by time, ties by the file's row order)."""
    mid = "(bid + ask) / 2"
    return duckdb.sql(
        f"SELECT epoch(time_bucket(INTERVAL 5 MINUTE, ts))::BIGINT AS time, arg_min({mid}, (ts, file_row_number)),"
        f" max({mid}), min({mid}), arg_max({mid}, (ts, file_row_number)), count(*)"
        f" FROM read_parquet('{lake.root / daily_key(SYMBOL, day)}', file_row_number = true) GROUP BY ALL ORDER BY 1"
    ).fetchall()


def timed(fn, repeat: int) -> tuple[float, object]:
    samples, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1000, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=100_000, help="ticks per day (default 100000)")
    parser.add_argument("--days", type=int, default=31, help="days of the cold request (default 31)")
    parser.add_argument("--repeat", type=int, default=20, help="timed repetitions of the warm day (default 20)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-ondemand-") as home:
        lake = FileLake(home)
        days = [FIRST + dt.timedelta(days=i) for i in range(args.days)]
        t0 = time.perf_counter()
        for i, day in enumerate(days):
            write_day(lake, day, args.ticks, i)
        print(f"wrote {args.days} compacted days of {args.ticks:,} ticks in {time.perf_counter() - t0:.1f} s")
        start, end = day_seconds(days[0]), day_seconds(days[-1]) + 86_399

        day = days[0]
        lake.get(daily_key(SYMBOL, day))  # into the page cache
        uncached = LakeCandles(lake, cache_bytes=1)  # every request builds the day again
        ms, built = timed(lambda: to_records(uncached.candles(SYMBOL, [day], 300), start, end), args.repeat)
        naive_ms, reference = timed(lambda: naive(lake, day, "5min"), args.repeat)
        fields = ("time", "open", "high", "low", "close", "trades")
        assert [{k: c[k] for k in fields} for c in built] == reference, "the two ways disagree"
        duck_ms, duck = timed(lambda: duck_day(lake, day), args.repeat)
        assert [c[0] for c in duck] == [c["time"] for c in reference]
        cached = LakeCandles(lake)
        cached.candles(SYMBOL, [day], 300)
        hit_ms, _ = timed(lambda: to_records(cached.candles(SYMBOL, [day], 300), start, end), args.repeat)
        print(f"one day, {args.ticks:,} ticks -> {len(built)} 5m candles, warm file lake (median of {args.repeat}):")
        print(f"  ticklake (pyarrow + numpy reduceat): {ms:7.1f} ms   target <= 50 ms")
        print(f"  naive (pandas read_parquet + resample): {naive_ms:7.1f} ms   ({naive_ms / ms:.1f}x slower)")
        print(f"  DuckDB SQL (read_parquet + time_bucket): {duck_ms:7.1f} ms   ({duck_ms / ms:.1f}x slower)")
        print(f"  ticklake, day in the API's cache: {hit_ms:7.2f} ms")

        cold = LakeCandles(lake)
        t0 = time.perf_counter()
        rows = to_records(cold.candles(SYMBOL, days, 3600), start, end)
        body = json.dumps(rows, separators=(",", ":"))
        cold_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        naive_rows = [c for d in days for c in naive(lake, d, "1h")]
        naive_s = time.perf_counter() - t0
        assert [c["time"] for c in rows] == [c["time"] for c in naive_rows]
        print(f"{args.days} days -> {len(rows)} 1h candles ({len(body):,} bytes of JSON), cold day cache:")
        print(
            f"  ticklake ({cold._pool._max_workers} threads, 5m then rollup): {cold_s * 1000:7.0f} ms   "
            "target <= 1000 ms"
        )
        print(f"  naive (pandas per day, resample 1h): {naive_s * 1000:7.0f} ms")
        print(f"  day cache after it: {len(cold.cache)} days, {cold.cache.bytes:,} bytes")


if __name__ == "__main__":
    main()
