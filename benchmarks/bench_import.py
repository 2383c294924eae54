"""History import throughput: a year of one FX symbol from a local mirror into a file lake, from both feeds.

Each feed (`--feed json`, `--feed bi5`; both by default, JSON first, so they compare in one run) is
imported by ticklake's importer (urllib3 keep-alive pool; days decoded with numpy and encoded as
Parquet in one worker process per core, overlapping the fetches; `--processes 0` keeps it in one
process) next to a naive importer measured in the same run, as common downloaders work: one request
at a time on a new connection, a DataFrame per day written as Parquet; per hour, for JSON, `json.loads`
and Python loops for the cumulative sums of times and prices, for bi5, one struct.unpack per record
into Python tuples.
The server (benchmarks/bi5_mirror.py, shared with bench_history_backfill.py) runs in its own process
(an asyncio loop answering HTTP/1.1 keep-alive requests with pre-built responses: 24 distinct hours,
~100k ticks/day by default, for every day, as LZMA bi5 files, ~5 bytes per tick, and as JSON-API bodies
of the same ticks, ~29 bytes per tick), so generation is not measured and the server takes little of the
shared CPU; its CPU time is printed. Both feeds give identical parts (checked on the first days when both
run). The naive importers run on the first --naive-days days (they are slow); rates are ticks per second
end to end (request to Parquet in the lake). Peak memory: the importer's process (its RSS high-water
mark, and its RSS before: what earlier parts of the run left allocated) and the sum over it and its
worker processes of their proportional set sizes (PSS: shared pages counted once), sampled every 0.2 s.
--latency-ms adds a remote server's answer time to every request (0 by default: pure CPU cost).
Usage: python benchmarks/bench_import.py [--feed json|bi5] [--days 365] [--ticks-per-day 100000] [--concurrency 8]
       [--naive-days 10] [--processes N] [--latency-ms 0]
"""

import argparse
import datetime as dt
import json
import lzma
import os
import resource
import struct
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bi5_mirror import bi5_mirror  # noqa: E402

from ticklake_dagster.lake.storage import FileLake  # noqa: E402
from ticklake_dagster.sources.dukascopy.feeds import FEEDS  # noqa: E402
from ticklake_dagster.sources.dukascopy.fetch import FeedClient  # noqa: E402
from ticklake_dagster.sources.dukascopy.importer import Importer, ImportSource, dukascopy_part_key  # noqa: E402
from ticklake_dagster.sources.dukascopy.instruments import resolve_instrument  # noqa: E402

START = dt.date(2019, 1, 1)
COLUMNS = ["ts_ms", "bid", "ask", "ask_volume", "bid_volume"]
COMPARED_DAYS = 3  # days whose parts from both feeds are compared byte for byte


def naive_bi5_hour(base: str, day: dt.date, hour: int) -> list[tuple]:
    """One request on a new connection, per-record struct.unpack."""
    url = f"{base}/EURUSD/{day.year}/{day.month - 1:02d}/{day.day:02d}/{hour:02d}h_ticks.bi5"
    with urllib.request.urlopen(url) as resp:
        body = resp.read()
    if not body:
        return []
    raw = lzma.decompress(body)
    start = int(dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.timezone.utc).timestamp() * 1000)
    rows = []
    for i in range(0, len(raw), 20):
        ms, ask, bid, av, bv = struct.unpack(">IIIff", raw[i : i + 20])
        rows.append((start + ms, bid / 1e5, ask / 1e5, av * 1e6, bv * 1e6))
    return rows


def naive_json_hour(base: str, day: dt.date, hour: int) -> list[tuple]:
    """One request on a new connection, json.loads, the cumulative sums in a Python loop."""
    with urllib.request.urlopen(f"{base}/ticks/EUR-USD/{day.year}/{day.month}/{day.day}/{hour}") as resp:
        doc = json.loads(resp.read())
    scale = round(1 / doc["multiplier"])
    ts, ask, bid = doc["timestamp"], round(doc["ask"] * scale), round(doc["bid"] * scale)
    rows = []
    columns = (doc[k] for k in ("times", "asks", "bids", "askVolumes", "bidVolumes"))
    for dt_ms, d_ask, d_bid, av, bv in zip(*columns):
        ts, ask, bid = ts + dt_ms, ask + d_ask, bid + d_bid
        rows.append((ts, bid / scale, ask / scale, av, bv))
    return rows


NAIVE_HOURS = {"bi5": naive_bi5_hour, "json": naive_json_hour}


def naive_import(feed: str, base: str, days: list[dt.date], root: Path) -> int:
    """One request at a time, a Python tuple per tick, a DataFrame per day."""
    ticks = 0
    root.mkdir(parents=True, exist_ok=True)
    for day in days:
        rows = [row for hour in range(24) for row in NAIVE_HOURS[feed](base, day, hour)]
        frame = pd.DataFrame(rows, columns=COLUMNS)
        frame["ts"] = pd.to_datetime(frame.pop("ts_ms"), unit="ms", utc=True)
        frame.to_parquet(root / f"{day}.parquet", compression="zstd")
        ticks += len(frame)
    return ticks


def cpu_seconds() -> float:
    """User + system CPU time of this process: comparable across runs on a machine other work also loads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def proc_stat_fields(stat: Path) -> list[str]:
    """/proc/PID/stat's fields after the command name (which may hold spaces): state is [0], utime [11]."""
    return stat.read_text().rsplit(")", 1)[1].split()


def helper_pids(server_pid: int) -> list[int]:
    """This process's live helper processes (the fork server and the workers it forked), not the mirror."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            children.setdefault(int(proc_stat_fields(stat)[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    found, todo = [], [p for p in children.get(os.getpid(), []) if p != server_pid]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


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


def memory_kb(pid: int | str, field: str) -> int:
    """A field of /proc/PID/status (VmRSS, VmHWM) or, for Pss, of smaps_rollup, in kB; 0 once the process is gone."""
    path = f"/proc/{pid}/smaps_rollup" if field == "Pss" else f"/proc/{pid}/status"
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class PeakMemory:
    """This process's high-water mark (reset on entry) and the peak sum of PSS over it and its helper processes."""

    def __init__(self, server_pid: int, interval_s: float = 0.2):
        self.server_pid = server_pid
        self.interval_s = interval_s
        self.peak_total_kb = 0
        self._stop = threading.Event()

    def __enter__(self) -> "PeakMemory":
        self.start_kb = memory_kb("self", "VmRSS")
        try:
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        except OSError:
            pass
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while True:
            total = sum(memory_kb(pid, "Pss") for pid in ["self", *helper_pids(self.server_pid)])
            self.peak_total_kb = max(self.peak_total_kb, total)
            if self._stop.wait(self.interval_s):
                return

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.main_kb = memory_kb("self", "VmHWM")

    def rss(self) -> str:
        return f"peak RSS {self.main_kb / 1024:,.0f} MB in this process ({self.start_kb / 1024:,.0f} MB before)"

    def line(self) -> str:
        return f"{self.rss()}; peak PSS {self.peak_total_kb / 1024:,.0f} MB with the workers"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--feed", choices=sorted(FEEDS), help="one feed only (default: json, then bi5)")
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
    days = [START + dt.timedelta(days=i) for i in range(args.days)]
    feeds = [args.feed] if args.feed else ["json", "bi5"]
    print(
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
        f"{args.days} days x ~{args.ticks_per_day:,} ticks "
        f"from {mirror.url.rsplit('/', 1)[0]} (+{args.latency_ms:g} ms per answer), concurrency {args.concurrency}"
    )
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        for feed in feeds:
            rates[feed] = run_feed(feed, args, mirror, days, Path(tmp) / feed)
        if len(feeds) == 2:
            fast = {feed: rate for feed, (rate, _) in rates.items()}
            print(f"json/bi5: ticklake {fast['json'] / fast['bi5']:.2f}x", end="")
            if args.naive_days:
                naive = {feed: rate for feed, (_, rate) in rates.items()}
                print(f", naive {naive['json'] / naive['bi5']:.2f}x", end="")
            print(f"; {compare_parts(Path(tmp), days[:COMPARED_DAYS])}")
    print(f"load average now {os.getloadavg()[0]:.1f}")


def run_feed(feed: str, args, mirror, days: list[dt.date], root: Path) -> tuple[float, float | None]:
    """Both importers on one feed: ticklake's over all days, the naive one over the first --naive-days."""
    base, server_pid = (mirror.json_url if feed == "json" else mirror.url), mirror.pid
    lake = FileLake(root / "lake")
    client = FeedClient(args.concurrency, headers=FEEDS[feed].headers)
    source = ImportSource("EURUSD", resolve_instrument("EURUSD"), FEEDS[feed], base)
    started, cpu, server_cpu = time.perf_counter(), cpu_seconds(), process_cpu_seconds(server_pid)
    workers_cpu = helpers_cpu_seconds(server_pid)
    with PeakMemory(server_pid) as memory:
        summary = Importer(lake, client, args.concurrency, processes=args.processes).run([source], days)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    workers_cpu = helpers_cpu_seconds(server_pid) - workers_cpu
    server_cpu = process_cpu_seconds(server_pid) - server_cpu
    client.close()
    ticks = summary.total("ticks")
    assert summary.count("imported") == len(days), summary.line()
    fast_rate = ticks / seconds
    written = summary.total("bytes_written")
    print(
        f"{feed:4} ticklake: {ticks:,} ticks in {seconds:.1f} s = {fast_rate:,.0f} ticks/s "
        f"({len(days) * 24 / seconds:,.0f} requests/s, {summary.total('body_bytes') / 1e6:,.0f} MB downloaded, "
        f"{written / 1e6:,.0f} MB of Parquet = {written / max(ticks, 1):.2f} bytes/tick); "
        f"{cpu + workers_cpu:.1f} CPU-s ({cpu:.1f} main + {workers_cpu:.1f} in worker processes) = "
        f"{ticks / (cpu + workers_cpu):,.0f} ticks per CPU-second; server {server_cpu:.1f} CPU-s; {memory.line()}"
    )
    if not args.naive_days:
        return fast_rate, None
    naive_days = days[: args.naive_days]
    started, cpu, server_cpu = time.perf_counter(), cpu_seconds(), process_cpu_seconds(server_pid)
    with PeakMemory(server_pid) as memory:
        naive_ticks = naive_import(feed, base, naive_days, root / "naive")
    naive_seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    server_cpu = process_cpu_seconds(server_pid) - server_cpu
    naive_rate = naive_ticks / naive_seconds
    print(
        f"{feed:4} naive:    {naive_ticks:,} ticks ({len(naive_days)} days) in {naive_seconds:.1f} s "
        f"= {naive_rate:,.0f} ticks/s; {cpu:.1f} CPU-s = {naive_ticks / cpu:,.0f} ticks per CPU-second; "
        f"server {server_cpu:.1f} CPU-s; {memory.rss()}"
    )
    print(f"{feed:4} speedup:  {fast_rate / naive_rate:.1f}x")
    return fast_rate, naive_rate


def compare_parts(root: Path, days: list[dt.date]) -> str:
    """Whether both feeds' lakes hold the same bytes for the first days (the JSON bodies carry the bi5 ticks)."""
    lakes = [FileLake(root / feed / "lake") for feed in ("json", "bi5")]
    same = sum(lakes[0].get(key) == lakes[1].get(key) for key in (dukascopy_part_key("EURUSD", d) for d in days))
    return f"parts identical on {same} of the first {len(days)} days"


if __name__ == "__main__":
    main()
