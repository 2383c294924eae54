"""History import throughput: a year of one FX symbol as synthetic bi5 files from a local server into a file lake.

ticklake's importer (urllib3 keep-alive pool; days decoded with numpy and encoded as Parquet in one
worker process per core, overlapping the fetches; `--processes 0` keeps it in one process) next to a
naive importer measured in the same run, as common downloaders work: one request at a time on a new
connection, one struct.unpack per record into Python tuples, a pandas DataFrame per day written as
Parquet. The server runs in its own process (an asyncio loop answering HTTP/1.1 keep-alive requests
with pre-built responses: 24 distinct LZMA hour files, ~100k ticks/day by default, for every day), so
generation is not measured and the server takes little of the shared CPU; its CPU time is printed.
The naive importer runs on the first --naive-days days (it is slow); rates are ticks per second end
to end (request to Parquet in the lake). --latency-ms adds a remote server's answer time to every
request (0 by default: pure CPU cost).
Usage: python benchmarks/bench_import.py [--days 365] [--ticks-per-day 100000] [--concurrency 8] [--naive-days 10]
       [--processes N] [--latency-ms 0]
"""

import argparse
import asyncio
import datetime as dt
import lzma
import multiprocessing
import os
import re
import resource
import socket
import struct
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ticklake_dagster.dukascopy.decode import BI5_DTYPE  # noqa: E402
from ticklake_dagster.dukascopy.feeds import FEEDS  # noqa: E402
from ticklake_dagster.dukascopy.fetch import FeedClient  # noqa: E402
from ticklake_dagster.dukascopy.importer import Importer, ImportSource  # noqa: E402
from ticklake_dagster.dukascopy.instruments import resolve_instrument  # noqa: E402
from ticklake_dagster.lake_storage import FileLake  # noqa: E402

START = dt.date(2019, 1, 1)
PATH_RE = re.compile(r"/(\d{2})h_ticks\.bi5$")


def synthetic_hours(ticks_per_day: int, seed: int = 7) -> list[bytes]:
    """24 LZMA bodies shaped like EURUSD's: sorted ms, a random walk in points, small spreads, round volumes."""
    rng = np.random.default_rng(seed)
    bodies = []
    price = 114_000
    for _ in range(24):
        n = int(ticks_per_day / 24)
        rec = np.empty(n, dtype=BI5_DTYPE)
        rec["ms"] = np.sort(rng.integers(0, 3_600_000, n))
        walk = price + np.cumsum(rng.integers(-2, 3, n))
        price = int(walk[-1])
        rec["bid"] = walk
        rec["ask"] = walk + rng.integers(1, 15, n)
        rec["ask_volume"] = rng.choice([0.75, 1.0, 1.12, 1.5, 2.25, 3.0, 4.5], n)
        rec["bid_volume"] = rng.choice([0.75, 1.0, 1.12, 1.5, 2.25, 3.0, 4.5], n)
        bodies.append(lzma.compress(rec.tobytes(), format=lzma.FORMAT_ALONE))
    return bodies


class _FeedProtocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive: each GET answered with a pre-built response (headers + LZMA body)."""

    def __init__(self, responses: dict[str, bytes], latency_s: float):
        self.responses = responses
        self.latency_s = latency_s
        self.buffer = b""
        self.next_send = 0.0

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head, self.buffer = self.buffer[:end], self.buffer[end + 4:]
            path = head.split(b" ", 2)[1].decode()
            m = PATH_RE.search(path)
            response = self.responses[m[1]] if m else NOT_FOUND
            close = b"connection: close" in head.lower()
            if not self.latency_s:
                self._send(response, close)
                continue
            # A remote server's answer time; answers on one connection stay in order.
            loop = asyncio.get_running_loop()
            self.next_send = max(loop.time() + self.latency_s, self.next_send)
            loop.call_at(self.next_send, self._send, response, close)

    def _send(self, response: bytes, close: bool) -> None:
        if self.transport.is_closing():
            return
        self.transport.write(response)
        if close:
            self.transport.close()


NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


def serve(port: int, ticks_per_day: int, latency_s: float, ready) -> None:
    """The feed's hours from pre-built responses on one asyncio loop: little CPU per request, none per byte.

    The server is scaffolding on the same cores as the importers (a real feed is remote), so it should
    cost as little as possible; both importers are measured against it in the same run.
    """
    responses = {
        f"{hour:02d}": b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: application/octet-stream\r\n\r\n" % len(body) + body
        for hour, body in enumerate(synthetic_hours(ticks_per_day))
    }

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(
            lambda: _FeedProtocol(responses, latency_s), "127.0.0.1", port, backlog=128)
        ready.set()
        await server.serve_forever()

    asyncio.run(main())


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
    """User + system CPU time of this process: comparable across runs on a machine other work also loads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def helpers_cpu_seconds(server_pid: int) -> float:
    """CPU time of the importer's helper processes: finished children, and live ones with their own finished children.

    The encoding workers are forked by multiprocessing's fork server (a child of this process), which
    reaps them: their time shows in its cumulative children's time.
    """
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = usage.ru_utime + usage.ru_stime
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        if int(fields[1]) == os.getpid() and pid != server_pid:
            total += sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return total


def process_cpu_seconds(pid: int) -> float:
    """Another process's user + system CPU time, from /proc (the server's share of the machine)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--ticks-per-day", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--naive-days", type=int, default=10)
    parser.add_argument("--processes", type=int, default=None, help="encoding worker processes (default: one per core)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every answer, as from a remote server")
    args = parser.parse_args()

    port = free_port()
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=serve, args=(port, args.ticks_per_day, args.latency_ms / 1000, ready), daemon=True)
    server.start()
    ready.wait(120)
    base = f"http://127.0.0.1:{port}/datafeed"
    days = [START + dt.timedelta(days=i) for i in range(args.days)]
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; {args.days} days x ~{args.ticks_per_day:,} ticks "
          f"from {base} (+{args.latency_ms:g} ms per answer), concurrency {args.concurrency}")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            lake = FileLake(Path(tmp) / "lake")
            client = FeedClient(args.concurrency, headers=FEEDS["bi5"].headers)
            source = ImportSource("EURUSD", resolve_instrument("EURUSD"), FEEDS["bi5"], base)
            started, cpu, server_cpu = time.perf_counter(), cpu_seconds(), process_cpu_seconds(server.pid)
            workers_cpu = helpers_cpu_seconds(server.pid)
            summary = Importer(lake, client, args.concurrency, processes=args.processes).run([source], days)
            seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
            workers_cpu = helpers_cpu_seconds(server.pid) - workers_cpu
            server_cpu = process_cpu_seconds(server.pid) - server_cpu
            client.close()
            ticks = summary.total("ticks")
            fast_rate = ticks / seconds
            written = summary.total("bytes_written")
            print(f"ticklake: {ticks:,} ticks in {seconds:.1f} s = {fast_rate:,.0f} ticks/s "
                  f"({args.days * 24 / seconds:,.0f} requests/s, {summary.total('body_bytes') / 1e6:,.0f} MB downloaded, "
                  f"{written / 1e6:,.0f} MB of Parquet = {written / max(ticks, 1):.2f} bytes/tick); "
                  f"{cpu + workers_cpu:.1f} CPU-s ({cpu:.1f} main + {workers_cpu:.1f} in worker processes) = "
                  f"{ticks / (cpu + workers_cpu):,.0f} ticks per CPU-second; server {server_cpu:.1f} CPU-s")

            if not args.naive_days:
                return
            naive_days = days[: args.naive_days]
            started, cpu, server_cpu = time.perf_counter(), cpu_seconds(), process_cpu_seconds(server.pid)
            naive_ticks = naive_import(base, naive_days, Path(tmp))
            naive_seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
            server_cpu = process_cpu_seconds(server.pid) - server_cpu
            naive_rate = naive_ticks / naive_seconds
            print(f"naive:    {naive_ticks:,} ticks ({len(naive_days)} days) in {naive_seconds:.1f} s = {naive_rate:,.0f} ticks/s; "
                  f"{cpu:.1f} CPU-s = {naive_ticks / cpu:,.0f} ticks per CPU-second; server {server_cpu:.1f} CPU-s")
            print(f"speedup:  {fast_rate / naive_rate:.1f}x; load average now {os.getloadavg()[0]:.1f}")
    finally:
        server.terminate()
        server.join()


if __name__ == "__main__":
    main()
