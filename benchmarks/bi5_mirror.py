"""A local Dukascopy-format mirror for the benchmarks: synthetic bi5 hours served by an HTTP server in its own process.

Any `{SYMBOL}/{YYYY}/{MM0}/{DD}/{HH}h_ticks.bi5` path is answered with one of 24 LZMA bodies built
before the server starts (so generation is never measured): the body for the path's hour of the day,
from pre-built HTTP/1.1 keep-alive responses on one asyncio loop, so the server takes little of the CPU
it shares with the importer.
With `market_hours=True` an hour in which the importer's `market_may_be_open` says the market is closed
(FX weekends) is answered with an empty body, so mirror and importer agree and no empty hour is asked twice.
"""

import asyncio
import contextlib
import dataclasses
import datetime as dt
import lzma
import multiprocessing
import re
import socket
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ticklake_dagster.sources.dukascopy.decode import BI5_DTYPE  # noqa: E402
from ticklake_dagster.sources.dukascopy.instruments import FX, INSTRUMENTS, Instrument, market_may_be_open  # noqa: E402

PATH_RE = re.compile(r"/([A-Z0-9]+)/(\d{4})/(\d{2})/(\d{2})/(\d{2})h_ticks\.bi5$")


def synthetic_hours(ticks_per_day: int, seed: int = 7) -> list[bytes]:
    """24 LZMA bodies (one per hour of the day) shaped like EURUSD's: sorted ms, a random walk in points,
    small spreads.
    """
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


def hour_body(path: str, bodies: list[bytes], market_hours: bool) -> bytes | None:
    """The hour's entry of `bodies` for a bi5 path (b"" for a closed hour), None when the path is not one."""
    m = PATH_RE.search(path)
    if not m:
        return None
    symbol, year, month0, day, hour = m[1], int(m[2]), int(m[3]), int(m[4]), int(m[5])
    if market_hours:
        instrument = INSTRUMENTS.get(symbol) or Instrument(symbol, 1e5, FX)
        start = dt.datetime(year, month0 + 1, day, hour, tzinfo=dt.timezone.utc)
        if not market_may_be_open(instrument, start):
            return b""
    return bodies[hour]


class _FeedProtocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive: each GET answered with a pre-built response (headers + LZMA body)."""

    def __init__(self, responses: list[bytes], market_hours: bool, latency_s: float):
        self.responses = responses
        self.market_hours = market_hours
        self.latency_s = latency_s
        self.buffer = b""
        self.next_send = 0.0

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            body = hour_body(head.split(b" ", 2)[1].decode(), self.responses, self.market_hours)
            response = NOT_FOUND if body is None else (body or EMPTY)
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
EMPTY = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nContent-Type: application/octet-stream\r\n\r\n"


def serve(port: int, ticks_per_day: int, latency_s: float, market_hours: bool, ready) -> None:
    """The feed's hours from pre-built responses on one asyncio loop: little CPU per request, none per byte.

    The server is scaffolding on the same cores as the importers (a real feed is remote), so it should
    cost as little as possible.
    """
    responses = [
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: application/octet-stream\r\n\r\n" % len(body) + body
        for body in synthetic_hours(ticks_per_day)
    ]

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(
            lambda: _FeedProtocol(responses, market_hours, latency_s), "127.0.0.1", port, backlog=128
        )
        ready.set()
        await server.serve_forever()

    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclasses.dataclass(frozen=True)
class Mirror:
    url: str  # the base URL: TICKLAKE_DUKASCOPY_URL / --url
    pid: int  # the server process, for its CPU time


@contextlib.contextmanager
def bi5_mirror(ticks_per_day: int, *, latency_s: float = 0.0, market_hours: bool = False):
    """Run the mirror in its own process; yield where it answers."""
    port = free_port()
    ready = multiprocessing.Event()
    server = multiprocessing.Process(
        target=serve, args=(port, ticks_per_day, latency_s, market_hours, ready), daemon=True
    )
    server.start()
    try:
        if not ready.wait(120):
            raise RuntimeError("the bi5 mirror did not start within 120 s")
        yield Mirror(f"http://127.0.0.1:{port}/datafeed", server.pid)
    finally:
        server.terminate()
        server.join()
