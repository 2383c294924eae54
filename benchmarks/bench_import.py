"""History import throughput: a year of one FX symbol as synthetic bi5 files from a local server into a file lake.

ticklake's importer (urllib3 keep-alive pool; days decoded with numpy and encoded as Parquet in one
worker process per core, overlapping the fetches; `--processes 0` keeps it in one process) next to a
naive importer measured in the same run, as common downloaders work: one request at a time on a new
connection, one struct.unpack per record into Python tuples, a pandas DataFrame per day written as
Parquet. The server (benchmarks/bi5_mirror.py, shared with bench_history_backfill.py) runs in its own
process (an asyncio loop answering HTTP/1.1 keep-alive requests with pre-built responses: 24 distinct
LZMA hour files, ~100k ticks/day by default, for every day), so
generation is not measured and the server takes little of the shared CPU; its CPU time is printed.
The naive importer runs on the first --naive-days days (it is slow); rates are ticks per second end
to end (request to Parquet in the lake). --latency-ms adds a remote server's answer time to every
request (0 by default: pure CPU cost).
Usage: python benchmarks/bench_import.py [--days 365] [--ticks-per-day 100000] [--concurrency 8] [--naive-days 10]
       [--processes N] [--latency-ms 0]
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

from bi5_mirror import bi5_mirror  # noqa: E402

from ticklake_dagster.lake.storage import FileLake  # noqa: E402
from ticklake_dagster.sources.dukascopy.feeds import FEEDS  # noqa: E402
from ticklake_dagster.sources.dukascopy.fetch import FeedClient  # noqa: E402
from ticklake_dagster.sources.dukascopy.importer import Importer, ImportSource  # noqa: E402
from ticklake_dagster.sources.dukascopy.instruments import resolve_instrument  # noqa: E402

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
                ms, ask, bid, av, bv = struct.unpack(">IIIff", raw[i : i + 20])
                rows.append((start + ms, bid / 1e5, ask / 1e5, av, bv))
        frame = pd.DataFrame(rows, columns=["ts_ms", "bid", "ask", "ask_volume", "bid_volume"])
        frame["ts"] = pd.to_datetime(frame.pop("ts_ms"), unit="ms", utc=True)
        out = root / f"{day}.parquet"
        frame.to_parquet(out, compression="zstd")
        ticks += len(frame)
    return ticks


def cpu_seconds() -> float:
    """User + system CPU time of this process: comparable across runs on a machine other work also loads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def proc_stat_fields(stat: Path) -> list[str]:
    """/proc/PID/stat's fields after the command name (which may hold spaces): state is [0], utime [11]."""
    return stat.read_text().rsplit(")", 1)[1].split()


def helpers_cpu_seconds(server_pid: int) -> float:
    """CPU time of the importer's helper processes: finished children, and live ones with their own finished children.

    The encoding workers are forked by multiprocessing's fork server (a child of this process), which
    reaps them: their time shows in its cumulative children's time.
    """
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = usage.ru_utime + usage.ru_stime
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = proc_stat_fields(stat)
        except OSError:
            continue
        pid = int(stat.parent.name)
        if int(fields[1]) == os.getpid() and pid != server_pid:
            total += sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return total


def process_cpu_seconds(pid: int) -> float:
    """Another process's user + system CPU time, from /proc (the server's share of the machine)."""
    fields = proc_stat_fields(Path(f"/proc/{pid}/stat"))
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--ticks-per-day", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--naive-days", type=int, default=10)
    parser.add_argument("--processes", type=int, default=None, help="encoding worker processes (default: one per core)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every answer, as from a remote server")
    args = parser.parse_args()

    with bi5_mirror(args.ticks_per_day, latency_s=args.latency_ms / 1000) as mirror:
        run(args, mirror)


def run(args, mirror) -> None:
    base, server_pid = mirror.url, mirror.pid
    days = [START + dt.timedelta(days=i) for i in range(args.days)]
    print(
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
        f"{args.days} days x ~{args.ticks_per_day:,} ticks "
        f"from {base} (+{args.latency_ms:g} ms per answer), concurrency {args.concurrency}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        lake = FileLake(Path(tmp) / "lake")
        client = FeedClient(args.concurrency, headers=FEEDS["bi5"].headers)
        source = ImportSource("EURUSD", resolve_instrument("EURUSD"), FEEDS["bi5"], base)
        started, cpu, server_cpu = time.perf_counter(), cpu_seconds(), process_cpu_seconds(server_pid)
        workers_cpu = helpers_cpu_seconds(server_pid)
        summary = Importer(lake, client, args.concurrency, processes=args.processes).run([source], days)
        seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
        workers_cpu = helpers_cpu_seconds(server_pid) - workers_cpu
        server_cpu = process_cpu_seconds(server_pid) - server_cpu
        client.close()
        ticks = summary.total("ticks")
        fast_rate = ticks / seconds
        written = summary.total("bytes_written")
        print(
            f"ticklake: {ticks:,} ticks in {seconds:.1f} s = {fast_rate:,.0f} ticks/s "
            f"({args.days * 24 / seconds:,.0f} requests/s, {summary.total('body_bytes') / 1e6:,.0f} MB downloaded, "
            f"{written / 1e6:,.0f} MB of Parquet = {written / max(ticks, 1):.2f} bytes/tick); "
            f"{cpu + workers_cpu:.1f} CPU-s ({cpu:.1f} main + {workers_cpu:.1f} in worker processes) = "
            f"{ticks / (cpu + workers_cpu):,.0f} ticks per CPU-second; server {server_cpu:.1f} CPU-s"
        )

        if not args.naive_days:
            return
        naive_days = days[: args.naive_days]
        started, cpu, server_cpu = time.perf_counter(), cpu_seconds(), process_cpu_seconds(server_pid)
        naive_ticks = naive_import(base, naive_days, Path(tmp))
        naive_seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
        server_cpu = process_cpu_seconds(server_pid) - server_cpu
        naive_rate = naive_ticks / naive_seconds
        print(
            f"naive:    {naive_ticks:,} ticks ({len(naive_days)} days) in {naive_seconds:.1f} s "
            f"= {naive_rate:,.0f} ticks/s; "
            f"{cpu:.1f} CPU-s = {naive_ticks / cpu:,.0f} ticks per CPU-second; server {server_cpu:.1f} CPU-s"
        )
        print(f"speedup:  {fast_rate / naive_rate:.1f}x; load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
