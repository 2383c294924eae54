"""Helpers for the ingester tests: the service in a thread or as `ticklake ingest`, a WebSocket feed, lake readers."""

import asyncio
import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from ticklake_dagster.defs.resources import IngesterResource, LakeResource
from ticklake_dagster.lake.keys import RAW_ROOT, parse_raw_part_key
from ticklake_dagster.lake.parts import read_part
from ticklake_dagster.sources.ingest.service import IngestService

FAST = dict(  # intervals small enough that no test waits on the order of seconds
    flush_latency_ms=5.0,
    retry_base_seconds=0.05,
    retry_max_seconds=0.3,
    reconnect_base_seconds=0.05,
    reconnect_max_seconds=0.2,
    shutdown_timeout_seconds=10.0,
)


def make_config(tmp_path: Path, lake: LakeResource, **overrides) -> IngesterResource:
    values = {**FAST, "batch_size": 1000, "batch_max_age_seconds": 60.0, **overrides}
    return IngesterResource(lake=lake, home=str(tmp_path / "home"), **values)


class Running:
    """An IngestService on its own event loop in a thread, stopped like SIGTERM stops it."""

    def __init__(self, service: IngestService):
        self.service = service
        self.result: int | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()
        assert service.ready.wait(30) or self.error, "service did not start"
        if self.error:
            raise self.error

    def _main(self) -> None:
        try:
            self.result = asyncio.run(self.service.run())
        except BaseException as e:  # surfaced by join()
            self.error = e
            self.service.ready.set()

    def join(self, timeout: float = 60.0) -> int:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "service did not finish"
        if self.error:
            raise self.error
        return self.result

    def stop(self, timeout: float = 60.0) -> int:
        self.service.request_stop()
        return self.join(timeout)


class FeedServer:
    """A market-data WebSocket on 127.0.0.1 in its own thread; `handler(ws, n)` serves connection number n."""

    def __init__(self, handler):
        self.handler = handler
        self.connections = 0
        self.loop = asyncio.new_event_loop()
        self.started = threading.Event()
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()
        assert self.started.wait(10), "feed did not start"

    def _main(self) -> None:
        from websockets.asyncio.server import serve
        from websockets.exceptions import ConnectionClosed

        async def serve_one(ws):
            n = self.connections
            self.connections += 1
            with contextlib.suppress(ConnectionClosed):
                await self.handler(ws, n)

        async def main():
            self.stopping = asyncio.Event()
            async with serve(serve_one, "127.0.0.1", 0) as server:
                self.port = server.sockets[0].getsockname()[1]
                self.started.set()
                await self.stopping.wait()

        self.loop.run_until_complete(main())

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def close(self) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.stopping.set)
            self.thread.join(10)


@pytest.fixture
def ws_feed():
    """Start WebSocket feeds with `ws_feed(handler)`; each is closed when the test ends."""
    feeds: list[FeedServer] = []

    def start(handler) -> FeedServer:
        feeds.append(FeedServer(handler))
        return feeds[-1]

    yield start
    for feed in feeds:
        feed.close()


def scripted(scripts: list[list[str]], close_after: set[int] = frozenset(), subscribes: list | None = None):
    """A feed handler: connection n sends scripts[n] (after reading a subscribe message, if `subscribes`
    records them), then closes when n is in `close_after` or waits for the client to go."""

    async def handler(ws, n: int) -> None:
        if subscribes is not None:
            subscribes.append(await ws.recv())
        for message in scripts[n] if n < len(scripts) else []:
            await ws.send(message)
        if n not in close_after:
            await ws.wait_closed()

    return handler


def run_to_end(config: IngesterResource, sources: list) -> IngestService:
    """Run with finite sources until it exits by itself; it must exit 0."""
    service = IngestService(config, sources, handle_signals=False)
    assert asyncio.run(service.run()) == 0
    return service


def wait_until(predicate, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def lake_ticks(lake) -> pd.DataFrame:
    """Every tick of every raw part in the lake: symbol, ts_ms, bid, ask, key (read independently of the ingester)."""
    frames = []
    for obj in lake.list(RAW_ROOT):
        parsed = parse_raw_part_key(obj.key)
        assert parsed is not None, f"not a well-formed part key: {obj.key}"
        frame = read_part(obj.key, lake.get(obj.key)).to_pandas()
        frame["symbol"], frame["key"], frame["day"] = parsed[0], obj.key, parsed[1]
        frames.append(frame)
    if not frames:
        return pd.DataFrame({"ts_ms": [], "bid": [], "ask": [], "symbol": [], "key": [], "day": []})
    return pd.concat(frames, ignore_index=True)


def tick_rows(frame: pd.DataFrame) -> list[tuple]:
    """Sorted (symbol, ts_ms, bid, ask) tuples: compare lakes with sent ticks as multisets."""
    return sorted(zip(frame["symbol"], frame["ts_ms"].astype("int64"), frame["bid"], frame["ask"]))


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def spool_segments(home: Path) -> list[Path]:
    return sorted((home / "spool").glob("*.wal"))


def scrape(port: int, path: str = "/metrics") -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return r.read().decode()


def metric(port: int, name: str) -> float:
    """Sum of a metric's samples over all labels, from the Prometheus text /metrics serves."""
    total = 0.0
    for line in scrape(port).splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.fixture
def ingest_logs(caplog):
    caplog.set_level(logging.INFO, logger="ticklake.ingest")
    return caplog


def messages(caplog, msg: str) -> list[dict]:
    """The fields of every log record with this message."""
    return [getattr(r, "fields", {}) for r in caplog.records if r.getMessage() == msg]


@pytest.fixture
def cli_env(tmp_path):
    """The environment of a user running `ticklake`: nothing inherited from the developer's shell."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TICKLAKE_", "R2_", "DATABASE_URL"))}
    return {**clean, "TICKLAKE_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}


def s3_env(lake: LakeResource, secret: str = "test") -> dict:
    return {
        "TICKLAKE_LAKE_URL": lake.url,
        "R2_ENDPOINT": lake.endpoint_url,
        "R2_REGION": "us-east-1",
        "R2_ACCESS_KEY_ID": "test",
        "R2_SECRET_ACCESS_KEY": secret,
    }


def start_ingest(env: dict, *args, stdin=subprocess.DEVNULL, stderr_path: Path | None = None) -> subprocess.Popen:
    """`ticklake ingest ARGS` as a user starts it; stderr (the JSON log) goes to a file the test can read."""
    err = open(stderr_path, "wb") if stderr_path else subprocess.DEVNULL
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "ticklake_dagster.commands.cli", "ingest", *args],
            env=env,
            stdin=stdin,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    finally:
        if stderr_path:
            err.close()


def log_lines(path: Path) -> list[dict]:
    out = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError):
            out.append(json.loads(line))
    return out
