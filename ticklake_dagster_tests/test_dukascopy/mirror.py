"""A local Dukascopy mirror for tests and the benchmark: both feeds' formats, encoded here with struct + LZMA.

Ticks are generated per instrument-hour from a seed, as the integers the feed carries; tests compare the
lake against these integers, not against anything the importer computed.
"""

import contextlib
import datetime as dt
import functools
import http.server
import json
import lzma
import re
import struct
import threading
import zlib
from collections import defaultdict
from decimal import Decimal

import numpy as np

# Dukascopy name -> (point factor, typical price): what the generated integers are scaled from.
PRICES = {
    "EURUSD": (1e5, 1.1),
    "USDJPY": (1e3, 110.0),
    "XAUUSD": (1e3, 1300.0),
    "BTCUSD": (10.0, 6000.0),
    "GBPUSD": (1e5, 1.3),
}

_BI5_RE = re.compile(r"^/datafeed/(?P<inst>[A-Z0-9]+)/(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/(?P<h>\d{2})h_ticks\.bi5$")
_JSON_RE = re.compile(
    r"^/v1/ticks/(?P<code>[A-Z0-9]+-?[A-Z0-9]*)/(?P<y>\d{4})/(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<h>\d{1,2})$"
)


def hour_points(name: str, hour: dt.datetime, n: int | None = None) -> dict[str, np.ndarray]:
    """The hour's ticks as the feed's integers: ms in hour, ask, bid points, float32 volumes. FX weekends are empty."""
    point, price = PRICES[name]
    if name != "BTCUSD" and (
        hour.weekday() == 5 or (hour.weekday() == 6 and hour.hour < 22) or (hour.weekday() == 4 and hour.hour >= 22)
    ):
        n = 0
    seed = zlib.crc32(f"{name}{hour:%Y%m%d%H}".encode())
    rng = np.random.default_rng(seed)
    if n is None:
        n = int(rng.integers(50, 400))
    ms = np.sort(rng.integers(0, 3_600_000, n)).astype("uint32")
    mid = price * point + np.cumsum(rng.integers(-3, 4, n))
    spread = rng.integers(1, 20, n)
    return {
        "ms": ms,
        "ask": (mid + spread).astype("uint32"),
        "bid": mid.astype("uint32"),
        "ask_volume": np.round(rng.uniform(0.1, 5.0, n), 2).astype("float32"),
        "bid_volume": np.round(rng.uniform(0.1, 5.0, n), 2).astype("float32"),
    }


def encode_bi5(points: dict[str, np.ndarray]) -> bytes:
    """The bi5 body: 20-byte big-endian records, LZMA 'alone' format; 0 bytes for an empty hour."""
    n = len(points["ms"])
    if n == 0:
        return b""
    raw = b"".join(
        struct.pack(
            ">IIIff",
            int(points["ms"][i]),
            int(points["ask"][i]),
            int(points["bid"][i]),
            float(points["ask_volume"][i]),
            float(points["bid_volume"][i]),
        )
        for i in range(n)
    )
    return lzma.compress(raw, format=lzma.FORMAT_ALONE, preset=1)


def units(millions: np.float32) -> float:
    """A bi5 volume (float32 millions) as the JSON API writes it: the decimal it stands for, in units."""
    return float(Decimal(str(np.float32(millions))) * 1_000_000)


def encode_json(points: dict[str, np.ndarray], hour_start_ms: int, point: float) -> bytes:
    """The JSON API's body: first price plus deltas, in units of `multiplier`."""
    ms, ask, bid = (points[k].astype("int64") for k in ("ms", "ask", "bid"))
    multiplier = 1 / point
    body = {
        "timestamp": hour_start_ms,
        "multiplier": multiplier,
        "ask": 0.0,
        "bid": 0.0,
        "times": [],
        "asks": [],
        "bids": [],
        "askVolumes": [],
        "bidVolumes": [],
    }
    if len(ms):
        body.update(
            ask=float(ask[0]) * multiplier,
            bid=float(bid[0]) * multiplier,
            times=np.diff(ms, prepend=0).tolist(),
            asks=np.diff(ask, prepend=ask[0]).tolist(),
            bids=np.diff(bid, prepend=bid[0]).tolist(),
            # the JSON API publishes units where bi5 has millions
            askVolumes=[units(v) for v in points["ask_volume"]],
            bidVolumes=[units(v) for v in points["bid_volume"]],
        )
    return json.dumps(body).encode()


class Mirror:
    """Serves generated hours in both formats; `fault(path, nth_request)` may replace an answer."""

    def __init__(self, ticks_per_hour: int | None = None):
        self.ticks_per_hour = ticks_per_hour
        self.requests: dict[str, int] = defaultdict(int)
        self.lock = threading.Lock()
        self.fault = None  # (path, nth request of that path, 1-based) -> (status, headers, body) or None
        self._cache: dict[str, bytes] = {}

    def answer(self, path: str) -> tuple[int, dict, bytes]:
        with self.lock:
            self.requests[path] += 1
            nth = self.requests[path]
        if self.fault:
            replaced = self.fault(path, nth)
            if replaced is not None:
                return replaced
        body = self._cache.get(path)
        if body is None:
            body = self._body(path)
            if body is None:
                return 404, {}, b"not found"
            self._cache[path] = body
        return 200, {}, body

    def _body(self, path: str) -> bytes | None:
        return _generated_body(path, self.ticks_per_hour)


@functools.lru_cache(maxsize=20_000)
def _generated_body(path: str, ticks_per_hour: int | None) -> bytes | None:
    """Bodies are pure functions of the path: shared by every mirror of the session (encoding is per record, slow)."""
    if m := _BI5_RE.match(path):
        name = m["inst"]
        hour = dt.datetime(int(m["y"]), int(m["m"]) + 1, int(m["d"]), int(m["h"]), tzinfo=dt.timezone.utc)
        return encode_bi5(hour_points(name, hour, ticks_per_hour)) if name in PRICES else None
    if m := _JSON_RE.match(path):
        name = m["code"].replace("-", "")
        hour = dt.datetime(int(m["y"]), int(m["m"]), int(m["d"]), int(m["h"]), tzinfo=dt.timezone.utc)
        if name not in PRICES:
            return None
        return encode_json(hour_points(name, hour, ticks_per_hour), int(hour.timestamp() * 1000), PRICES[name][0])
    return None


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real feeds
    disable_nagle_algorithm = True  # headers and body leave at once: no 40 ms delayed-ACK stall per answer

    def do_GET(self):
        status, headers, body = self.server.mirror.answer(self.path)
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


@contextlib.contextmanager
def serve(mirror: Mirror):
    """Run the mirror on 127.0.0.1; yields (bi5 base URL, json base URL)."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.mirror = mirror
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield f"{base}/datafeed", f"{base}/v1"
    finally:
        server.shutdown()
        server.server_close()
