"""Latency of the candles API on a warm local database, under load from a second process on loopback.

Three uvicorn servers on the same database, measured in the same run: `ticklake serve`'s app
(connection pool, candles serialized by PostgreSQL, metadata cached for 5 s), the same with the cache
off (every metadata call counts the symbol's 5m candles), and the naive baseline: a new connection per
request, no cache. For each, a separate process sends a steady background load (random 1000-candle
windows and metadata calls) while this process times sequential requests over a keep-alive connection.

Usage: python benchmarks/bench_api.py [--days 365] [--requests 500] [--load-rps 100]
(DATABASE_URL to use your own PostgreSQL/TimescaleDB; otherwise an embedded one in a temp folder).
"""

import argparse
import datetime as dt
import http.client
import json
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ticklake_dagster.candles.building import build_candles  # noqa: E402
from ticklake_dagster.candles.database import stop_embedded_server  # noqa: E402
from ticklake_dagster.candles.sql import refresh_continuous_aggregates, write_window  # noqa: E402
from ticklake_dagster.defs.resources import DatabaseResource  # noqa: E402
from ticklake_dagster.sources.synthetic import RandomWalk, generate_day  # noqa: E402

SYMBOLS = ("EURUSD", "GBPUSD", "BTC-USD")
WINDOW = 1000  # candles per /api/candles request
LAST_DAY = dt.date(2025, 11, 14)

SERVER = """
import sys, uvicorn
from ticklake_dagster.api import create_app
from ticklake_dagster.defs.resources import DatabaseResource
url, port, pooled, ttl = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "pooled", float(sys.argv[4])
app = create_app(DatabaseResource(url=url, home="."), pooled=pooled, migrate=False, metadata_ttl_s=ttl)
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
"""


def fill(database: DatabaseResource, flavor: str, days: int) -> dict[str, int]:
    """`days` of synthetic 5-minute candles per symbol (FX skips weekends), written like the materialization."""
    first = LAST_DAY - dt.timedelta(days=days - 1)
    start = dt.datetime.combine(first, dt.time(), dt.timezone.utc)
    end = dt.datetime.combine(LAST_DAY + dt.timedelta(days=1), dt.time(), dt.timezone.utc)
    counts = {}
    with database.connect() as conn:
        for symbol in SYMBOLS:
            walk = RandomWalk(symbol, seed=7)
            frames = []
            for i in range(days):
                ts, bid, ask = generate_day(symbol, first + dt.timedelta(days=i), rate=0.1, walk=walk)
                frames.append(build_candles(pd.DataFrame({"ts_ms": ts, "bid": bid, "ask": ask})))
            candles = pd.concat(frames, ignore_index=True)
            with conn, conn.cursor() as cur:
                write_window(cur, flavor, symbol, start, end, candles)
            counts[symbol] = len(candles)
        if flavor == "timescaledb":
            refresh_continuous_aggregates(conn, start, end)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("VACUUM ANALYZE")
    return counts


def windows(first: int, last: int, n: int, seed: int) -> list[tuple[int, int]]:
    rng = random.Random(seed)
    span = (WINDOW - 1) * 300
    return [(s, s + span) for s in (first + 300 * rng.randrange(0, (last - first - span) // 300) for _ in range(n))]


class Client:
    """A lean keep-alive HTTP/1.1 client (http.client): httpx alone would add ~1 ms to every timing."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def get(self, path: str, params: dict) -> tuple[int, bytes]:
        self.conn.request("GET", f"{path}?{urllib.parse.urlencode(params)}")
        response = self.conn.getresponse()
        return response.status, response.read()


def background_load(port: int, rps: float, first: int, last: int, stop, done) -> None:
    """A steady mix of 1000-candle windows (3 in 4) and metadata calls at `rps` requests per second."""
    client = Client(port)
    rng, sent, t0 = random.Random(1), 0, time.perf_counter()
    while not stop.is_set():
        symbol = rng.choice(SYMBOLS)
        if rng.random() < 0.75:
            s, e = windows(first, last, 1, rng.random())[0]
            client.get("/api/candles", params={"symbol": symbol, "timeframe": "5m", "from": s, "to": e})
        else:
            client.get("/api/metadata", params={"symbol": symbol})
        sent += 1
        delay = t0 + sent / rps - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    done.value = sent / (time.perf_counter() - t0)


def percentiles(samples: list[float]) -> tuple[float, float]:
    a = np.array(samples) * 1000
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def measure(port: int, n: int, first: int, last: int) -> dict[str, list[float]]:
    client = Client(port)
    candle_params = [
        {"symbol": "EURUSD", "timeframe": "5m", "from": s, "to": e} for s, e in windows(first, last, n, 42)
    ]
    for p in candle_params[:30]:  # warm the server's connections and the database's cache
        client.get("/api/candles", params=p)
    out = {"candles": [], "metadata": []}
    for p in candle_params:
        t0 = time.perf_counter()
        status, body = client.get("/api/candles", params=p)
        out["candles"].append(time.perf_counter() - t0)
        assert status == 200 and len(json.loads(body)) > 0, body[:200]
    for _ in range(n):
        t0 = time.perf_counter()
        status, body = client.get("/api/metadata", params={"symbol": "EURUSD"})
        out["metadata"].append(time.perf_counter() - t0)
        assert status == 200, body
    return out


def start_server(url: str, pooled: bool, ttl: float) -> tuple[subprocess.Popen, int]:
    from ticklake_dagster_tests.servers import free_port, wait_for_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, url, str(port), "pooled" if pooled else "naive", str(ttl)],
        cwd=Path(__file__).resolve().parents[1],
    )
    wait_for_port(port, proc)
    return proc, port


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--requests", type=int, default=500, help="timed requests per endpoint and server")
    parser.add_argument("--load-rps", type=float, default=100.0, help="background requests per second (0: none)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        database = DatabaseResource(url=os.environ.get("DATABASE_URL"), home=tmp)
        flavor = database.ensure_schema()
        t0 = time.perf_counter()
        counts = fill(database, flavor, args.days)
        print(
            f"filled {sum(counts.values()):,} 5m candles ({', '.join(f'{s} {n:,}' for s, n in counts.items())}) "
            f"in {time.perf_counter() - t0:.1f}s; database {database.describe()} ({flavor})"
        )
        url = database.resolved_url()
        with database.connect() as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT extract(epoch FROM min(time))::bigint, extract(epoch FROM max(time))::bigint "
                "FROM candles_5m WHERE symbol = 'EURUSD'"
            )
            first, last = cur.fetchone()

        results = {}
        servers = (
            ("ticklake serve (pool, 5 s metadata cache)", True, 5.0),
            ("ticklake, metadata cache off", True, 0.0),
            ("naive (connect per request, no cache)", False, 0.0),
        )
        for label, pooled, ttl in servers:
            proc, port = start_server(url, pooled, ttl)
            stop, done = multiprocessing.Event(), multiprocessing.Value("d", 0.0)
            load = multiprocessing.Process(target=background_load, args=(port, args.load_rps, first, last, stop, done))
            if args.load_rps > 0:
                load.start()
            try:
                time.sleep(1.0)
                results[label] = measure(port, args.requests, first, last)
            finally:
                stop.set()
                if args.load_rps > 0:
                    load.join(30)
                proc.terminate()
                proc.wait(10)
            results[label]["load"] = done.value

        print(
            f"\n{args.requests} sequential requests per row over keep-alive HTTP on 127.0.0.1, while a second "
            f"process sends ~{args.load_rps:g} req/s to the same server"
        )
        print(f"{'request':<22}{'server':<44}{'p50 ms':>8}{'p99 ms':>8}{'load req/s':>12}")
        for what, name in (("candles", f"candles 5m x{WINDOW}"), ("metadata", "metadata")):
            for label, r in results.items():
                p50, p99 = percentiles(r[what])
                print(f"{name:<22}{label:<44}{p50:>8.2f}{p99:>8.2f}{r['load']:>12.0f}")
        fast = next(iter(results.values()))
        worst = max(percentiles(fast["candles"])[1], percentiles(fast["metadata"])[1])
        print(
            f"\ntarget p99 <= 10 ms for ticklake serve: {'met' if worst <= 10 else 'NOT met'} "
            f"(worst p99 {worst:.2f} ms)"
        )
        if not os.environ.get("DATABASE_URL"):
            stop_embedded_server(Path(tmp) / "pg")


if __name__ == "__main__":
    main()
