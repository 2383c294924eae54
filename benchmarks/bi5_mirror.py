"""A local Dukascopy-format mirror for the benchmarks: synthetic bi5 hours served by an HTTP server in its own process.

Any `{SYMBOL}/{YYYY}/{MM0}/{DD}/{HH}h_ticks.bi5` path is answered with one of a few LZMA bodies built
before the server starts (so generation is never measured): the body for the path's hour of the day.
With `market_hours=True` an hour in which the importer's `market_may_be_open` says the market is closed
(FX weekends) is answered with an empty body, so mirror and importer agree and no empty hour is asked twice.
"""

import contextlib
import datetime as dt
import http.server
import lzma
import multiprocessing
import re
import socket
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ticklake_dagster.dukascopy.decode import BI5_DTYPE  # noqa: E402
from ticklake_dagster.dukascopy.instruments import FX, Instrument, INSTRUMENTS, market_may_be_open  # noqa: E402

PATH_RE = re.compile(r"/([A-Z0-9]+)/(\d{4})/(\d{2})/(\d{2})/(\d{2})h_ticks\.bi5$")


def synthetic_hours(ticks_per_day: int, seed: int = 7) -> list[bytes]:
    """24 LZMA bodies (one per hour of the day) shaped like EURUSD's: sorted ms, a random walk in points, small spreads."""
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
    """The body for a bi5 path (b"" for a closed hour), None when the path is not one."""
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


def serve(port: int, ticks_per_day: int, latency_s: float, market_hours: bool, ready) -> None:
    bodies = synthetic_hours(ticks_per_day)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body leave at once: no 40 ms delayed-ACK stall per answer

        def do_GET(self):
            if latency_s:
                time.sleep(latency_s)  # a remote server's answer time; each connection's thread waits on its own
            body = hour_body(self.path, bodies, market_hours)
            self.send_response(404 if body is None else 200)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    ready.set()
    server.serve_forever()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def bi5_mirror(ticks_per_day: int, *, latency_s: float = 0.0, market_hours: bool = False):
    """Run the mirror in its own process; yield its base URL (the value of TICKLAKE_DUKASCOPY_URL / --url)."""
    port = free_port()
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=serve, args=(port, ticks_per_day, latency_s, market_hours, ready), daemon=True)
    server.start()
    try:
        if not ready.wait(120):
            raise RuntimeError("the bi5 mirror did not start within 120 s")
        yield f"http://127.0.0.1:{port}/datafeed"
    finally:
        server.terminate()
        server.join()
