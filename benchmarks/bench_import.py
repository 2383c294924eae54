"""History import throughput: a year of one FX symbol as synthetic bi5 files from a local server into a file lake.

ticklake's importer (urllib3 keep-alive pool, numpy decode, Parquet writes overlapping the fetches) next
to a naive importer measured in the same run, as common downloaders work: one request at a time on a
new connection, one struct.unpack per record into Python tuples, a pandas DataFrame per day written as
Parquet. The server runs in its own process and serves 24 distinct LZMA hour files (~100k ticks/day by
default) for every day, so generation is not measured. The naive importer runs on the first
--naive-days days (it is slow); rates are ticks per second end to end (request to Parquet in the lake).
--latency-ms adds a remote server's answer time to every request (0 by default: pure CPU cost).
Usage: python benchmarks/bench_import.py [--days 365] [--ticks-per-day 100000] [--concurrency 8] [--naive-days 5] [--latency-ms 0]
"""

import argparse
import datetime as dt
import lzma
import os
import resource
import struct
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ticklake_dagster.dukascopy.feeds import FEEDS  # noqa: E402
from ticklake_dagster.dukascopy.fetch import FeedClient  # noqa: E402
from ticklake_dagster.dukascopy.importer import Importer, ImportSource  # noqa: E402
from ticklake_dagster.dukascopy.instruments import resolve_instrument  # noqa: E402
from ticklake_dagster.lake_storage import FileLake  # noqa: E402

from bi5_mirror import bi5_mirror  # noqa: E402

START = dt.date(2019, 1, 1)


def naive_import(base: str, days: list[dt.date], root: Path) -> int:
    """One request at a time, per-record struct.unpack, a DataFrame per day."""
    ticks = 0
    for day in days:
        rows = []
        for hour in range(24):
            url = f"{base}/EURUSD/{day.year}/{day.month - 1:02d}/{day.day:02d}/{hour:02d}h_ticks.bi5"
            with urllib.request.urlopen(url) as resp:
                body = resp.read()
            if not body:
                continue
            raw = lzma.decompress(body)
            start = int(dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.timezone.utc).timestamp() * 1000)
            for i in range(0, len(raw), 20):
                ms, ask, bid, av, bv = struct.unpack(">IIIff", raw[i:i + 20])
                rows.append((start + ms, bid / 1e5, ask / 1e5, av, bv))
        frame = pd.DataFrame(rows, columns=["ts_ms", "bid", "ask", "ask_volume", "bid_volume"])
        frame["ts"] = pd.to_datetime(frame.pop("ts_ms"), unit="ms", utc=True)
        out = root / f"{day}.parquet"
        frame.to_parquet(out, compression="zstd")
        ticks += len(frame)
    return ticks


def cpu_seconds() -> float:
    """This process's user + system CPU time: comparable across runs on a machine other work also loads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--ticks-per-day", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--naive-days", type=int, default=5)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every answer, as from a remote server")
    args = parser.parse_args()

    with bi5_mirror(args.ticks_per_day, latency_s=args.latency_ms / 1000) as base:
        run(args, base)


def run(args, base: str) -> None:
    days = [START + dt.timedelta(days=i) for i in range(args.days)]
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; {args.days} days x ~{args.ticks_per_day:,} ticks "
          f"from {base} (+{args.latency_ms:g} ms per answer), concurrency {args.concurrency}")
    with tempfile.TemporaryDirectory() as tmp:
        lake = FileLake(Path(tmp) / "lake")
        client = FeedClient(args.concurrency, headers=FEEDS["bi5"].headers)
        source = ImportSource("EURUSD", resolve_instrument("EURUSD"), FEEDS["bi5"], base)
        started, cpu = time.perf_counter(), cpu_seconds()
        summary = Importer(lake, client, args.concurrency).run([source], days)
        seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
        client.close()
        ticks = summary.total("ticks")
        fast_rate = ticks / seconds
        written = summary.total("bytes_written")
        print(f"ticklake: {ticks:,} ticks in {seconds:.1f} s = {fast_rate:,.0f} ticks/s "
              f"({args.days * 24 / seconds:,.0f} requests/s, {summary.total('body_bytes') / 1e6:,.0f} MB downloaded, "
              f"{written / 1e6:,.0f} MB of Parquet = {written / max(ticks, 1):.2f} bytes/tick); "
              f"{cpu:.1f} CPU-s = {ticks / cpu:,.0f} ticks per CPU-second")

        naive_days = days[: args.naive_days]
        started, cpu = time.perf_counter(), cpu_seconds()
        naive_ticks = naive_import(base, naive_days, Path(tmp))
        naive_seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
        naive_rate = naive_ticks / naive_seconds
        print(f"naive:    {naive_ticks:,} ticks ({len(naive_days)} days) in {naive_seconds:.1f} s = {naive_rate:,.0f} ticks/s; "
              f"{cpu:.1f} CPU-s = {naive_ticks / cpu:,.0f} ticks per CPU-second")
        print(f"speedup:  {fast_rate / naive_rate:.1f}x; load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
