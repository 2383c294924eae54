"""A local Dukascopy mirror for the benchmarks: synthetic hours of both feeds, from an HTTP server in its own process.

Any bi5 path `{base}/{SYMBOL}/{YYYY}/{MM0}/{DD}/{HH}h_ticks.bi5` is answered with one of 24 LZMA bodies
built before the server starts (so generation is never measured): the body for the path's hour of the
day, from pre-built HTTP/1.1 keep-alive responses on one asyncio loop, so the server takes little of the
CPU it shares with the importer. Any JSON-API path `{json base}/ticks/{EUR-USD}/{Y}/{M}/{D}/{H}` is
answered with the same hour's ticks as a JSON body (deltas of times and prices, volumes in units: the
bi5 millions x 10^6), also pre-built: only its `timestamp` (the hour asked for, which the importer
checks) is written per request, in front of the pre-built rest.
With `market_hours=True` an hour in which the importer's `market_may_be_open` says the market is closed
(FX weekends) is answered with an empty body (bi5) or empty arrays (JSON), so mirror and importer agree
and no empty hour is asked twice.
"""

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import lzma
import multiprocessing
import re
import socket
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ticklake_dagster.sources.dukascopy.decode import BI5_DTYPE  # noqa: E402
from ticklake_dagster.sources.dukascopy.instruments import FX, INSTRUMENTS, Instrument, market_may_be_open  # noqa: E402

PATH_RE = re.compile(r"/([A-Z0-9]+)/(\d{4})/(\d{2})/(\d{2})/(\d{2})h_ticks\.bi5$")
JSON_PATH_RE = re.compile(r"/ticks/([A-Z0-9]+)-?([A-Z0-9]*)/(\d{4})/(\d{1,2})/(\d{1,2})/(\d{1,2})$")
POINT = 1e5  # EURUSD's point factor: the synthetic prices are in its points


def synthetic_records(ticks_per_day: int, seed: int = 7) -> list[np.ndarray]:
    """24 hours of bi5 records (one per hour of the day) shaped like EURUSD's: sorted ms, a random walk in
    points, small spreads.
    """
    rng = np.random.default_rng(seed)
    hours = []
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
        hours.append(rec)
    return hours


def json_rest(rec: np.ndarray | None) -> bytes:
    """A JSON-API body after its `"timestamp":N` (written per request): first prices plus deltas in units of
    `multiplier`, volumes in units (the bi5 float32 millions read as their decimal, times 10^6).
    """
    multiplier = 1 / POINT
    doc = {"multiplier": multiplier, "ask": 0.0, "bid": 0.0}
    doc.update({k: [] for k in ("times", "asks", "bids", "askVolumes", "bidVolumes")})
    if rec is not None and len(rec):
        ms, ask, bid = (rec[k].astype("int64") for k in ("ms", "ask", "bid"))
        doc.update(
            ask=int(ask[0]) / POINT,
            bid=int(bid[0]) / POINT,
            times=np.diff(ms, prepend=0).tolist(),
            asks=np.diff(ask, prepend=ask[0]).tolist(),
            bids=np.diff(bid, prepend=bid[0]).tolist(),
            askVolumes=[units(v) for v in rec["ask_volume"]],
            bidVolumes=[units(v) for v in rec["bid_volume"]],
        )
    return b"," + json.dumps(doc, separators=(",", ":")).encode()[1:]


def units(millions: np.float32) -> float:
    """A bi5 volume (float32 millions) as the JSON API writes it: the decimal it stands for, in units."""
    return float(Decimal(str(np.float32(millions))) * 1_000_000)


def hour_body(path: str, bodies: list[bytes], market_hours: bool) -> bytes | None:
    """The hour's entry of `bodies` for a bi5 path (b"" for a closed hour), None when the path is not one."""
    m = PATH_RE.search(path)
    if not m:
        return None
    symbol, year, month0, day, hour = m[1], int(m[2]), int(m[3]), int(m[4]), int(m[5])
    if market_hours and not _open(symbol, dt.datetime(year, month0 + 1, day, hour, tzinfo=dt.timezone.utc)):
        return b""
    return bodies[hour]


def json_hour(path: str, market_hours: bool) -> tuple[dt.datetime, bool] | None:
    """A JSON-API path's hour and whether it has ticks (not when closed), None when the path is not one."""
    m = JSON_PATH_RE.search(path)
    if not m:
        return None
    start = dt.datetime(int(m[3]), int(m[4]), int(m[5]), int(m[6]), tzinfo=dt.timezone.utc)
    return start, not market_hours or _open(m[1] + m[2], start)


def _open(symbol: str, start: dt.datetime) -> bool:
    return market_may_be_open(INSTRUMENTS.get(symbol) or Instrument(symbol, POINT, FX), start)


class _FeedProtocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive: each GET answered with a pre-built response (headers + LZMA body), or for the
    JSON API with a pre-built body after the hour's timestamp.
    """

    def __init__(self, responses: list[bytes], json_rests: list[bytes], market_hours: bool, latency_s: float):
        self.responses = responses
        self.json_rests = json_rests  # 24 hours, then the empty hour
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
            response = self._response(head.split(b" ", 2)[1].decode())
            close = b"connection: close" in head.lower()
            if not self.latency_s:
                self._send(response, close)
                continue
            # A remote server's answer time; answers on one connection stay in order.
            loop = asyncio.get_running_loop()
            self.next_send = max(loop.time() + self.latency_s, self.next_send)
            loop.call_at(self.next_send, self._send, response, close)

    def _response(self, path: str) -> list[bytes]:
        if (hour := json_hour(path, self.market_hours)) is not None:
            start, has_ticks = hour
            rest = self.json_rests[start.hour if has_ticks else -1]
            head = b'{"timestamp":%d' % int(start.timestamp() * 1000)
            return [JSON_HEAD % (len(head) + len(rest)) + head, rest]  # two writes: the rest is not copied
        body = hour_body(path, self.responses, self.market_hours)
        return [NOT_FOUND if body is None else (body or EMPTY)]

    def _send(self, response: list[bytes], close: bool) -> None:
        if self.transport.is_closing():
            return
        for data in response:
            self.transport.write(data)
        if close:
            self.transport.close()


NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
EMPTY = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nContent-Type: application/octet-stream\r\n\r\n"
JSON_HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: application/json\r\n\r\n"


def serve(port: int, ticks_per_day: int, latency_s: float, market_hours: bool, ready) -> None:
    """The feed's hours from pre-built responses on one asyncio loop: little CPU per request, none per byte.

    The server is scaffolding on the same cores as the importers (a real feed is remote), so it should
    cost as little as possible.
    """
    records = synthetic_records(ticks_per_day)
    responses = [
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: application/octet-stream\r\n\r\n" % len(body) + body
        for body in (lzma.compress(rec.tobytes(), format=lzma.FORMAT_ALONE) for rec in records)
    ]
    json_rests = [json_rest(rec) for rec in records] + [json_rest(None)]

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(
            lambda: _FeedProtocol(responses, json_rests, market_hours, latency_s), "127.0.0.1", port, backlog=128
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
    url: str  # the bi5 base URL: TICKLAKE_DUKASCOPY_URL / --url
    pid: int  # the server process, for its CPU time
    json_url: str = ""  # the JSON API's base URL (same server)


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
            raise RuntimeError("the mirror did not start within 120 s")
        yield Mirror(f"http://127.0.0.1:{port}/datafeed", server.pid, f"http://127.0.0.1:{port}/v1")
    finally:
        server.terminate()
        server.join()
