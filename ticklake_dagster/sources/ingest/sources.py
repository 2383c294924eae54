"""Where ticks come from: a WebSocket feed, a JSON-lines file or stdin, or the live synthetic generator."""

from __future__ import annotations

import abc
import asyncio
import os
import secrets
import stat
import threading
import time
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from ticklake_dagster.core.errors import InvalidInput
from ticklake_dagster.core.symbols import validate_symbol
from ticklake_dagster.sources.ingest import logs
from ticklake_dagster.sources.ingest.backoff import Backoff
from ticklake_dagster.sources.ingest.parse import TickBlock
from ticklake_dagster.sources.synthetic import RandomWalk

READ_CHUNK = 1 << 20
MAX_RATE = 1_000_000.0


class Sink(Protocol):
    async def put_messages(self, messages: list) -> None: ...

    async def put_block(self, block: TickBlock) -> None: ...

    def count_disconnect(self, source: str) -> None: ...


class Source(abc.ABC):
    finite: bool = False

    @abc.abstractmethod
    async def run(self, sink: Sink) -> None:
        """Feed the sink until the source ends (finite sources) or the task is cancelled."""

    @abc.abstractmethod
    def describe(self) -> str:
        """For logs: never includes credentials or a query string."""


def redact_ws_url(url: str) -> str:
    """Feeds often put an API key in the URL's user part or query: log scheme://host/path only."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    except ValueError:
        return "<unparseable url>"


class WebSocketSource(Source):
    """A market-data WebSocket; reconnects forever with backoff and jitter, logging each disconnect once."""

    def __init__(
        self, url: str, subscribe: str | None = None, backoff: Backoff | None = None, open_timeout: float = 10.0
    ):
        self.url = url
        self.subscribe = subscribe
        self.backoff = backoff or Backoff(0.5, 30.0)
        self.open_timeout = open_timeout

    def describe(self) -> str:
        return redact_ws_url(self.url)

    async def run(self, sink: Sink) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import WebSocketException

        attempt, down_logged, was_connected = 0, False, False
        while True:
            try:
                async with connect(self.url, open_timeout=self.open_timeout, max_size=16 << 20, max_queue=64) as ws:
                    if self.subscribe:
                        await ws.send(self.subscribe)
                    logs.info("WebSocket connected", source=self.describe(), reconnect=was_connected)
                    attempt, down_logged, was_connected = 0, False, True
                    async for message in ws:
                        await sink.put_messages([message])
                reason = "closed by the server"
            except (OSError, asyncio.TimeoutError, WebSocketException) as e:
                reason = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}".rstrip(": ")
            if not down_logged:
                logs.warning("WebSocket disconnected", source=self.describe(), reason=reason)
                sink.count_disconnect(self.describe())
                down_logged = True
            await asyncio.sleep(self.backoff.delay(attempt))
            attempt += 1


class JsonlSource(Source):
    """One JSON tick (or array of ticks) per line, from any readable path or stdin; ends at end of file.

    A named pipe, a character device (/dev/null, /dev/stdin) and process substitution (/dev/fd/N) are
    as good as a file; the path is checked without opening it, since opening a pipe is not side-effect
    free (it waits for, or is seen by, the writer).
    """

    finite = True

    def __init__(self, path: str):
        self.path = path
        if path != "-":
            try:
                mode = os.stat(path).st_mode
            except OSError as e:
                raise InvalidInput(f"Source jsonl:{path}: {e.strerror}") from None
            if stat.S_ISDIR(mode):
                raise InvalidInput(f"Source jsonl:{path}: is a directory")
            if not os.access(path, os.R_OK):
                raise InvalidInput(f"Source jsonl:{path}: permission denied")

    def describe(self) -> str:
        return f"jsonl:{self.path}"

    async def run(self, sink: Sink) -> None:
        rest = b""
        async for chunk in _read_chunks(self.path):
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            if lines:  # blank lines are skipped by the parser
                await sink.put_messages(lines)
        if rest:
            await sink.put_messages([rest])


async def _read_chunks(path: str):
    """Chunks of a file or stdin, read by a daemon thread: a read blocked on an idle pipe must not hold up exit."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue(maxsize=4)

    def reader() -> None:
        # os.read on the descriptor, not sys.stdin.buffer: a daemon thread blocked inside a buffered
        # reader's lock makes the interpreter abort at exit.
        try:
            fd = 0 if path == "-" else os.open(path, os.O_RDONLY)
        except OSError as e:
            asyncio.run_coroutine_threadsafe(queue.put(e), loop)
            return
        chunk: bytes | OSError  # what was read, or why the read failed
        try:
            while True:
                try:
                    chunk = os.read(fd, READ_CHUNK)  # a pipe returns what it has now: piped ticks are not held back
                except OSError as e:
                    chunk = e
                asyncio.run_coroutine_threadsafe(queue.put(chunk), loop).result()  # waits: backpressure
                if not isinstance(chunk, bytes) or not chunk:
                    return
        except RuntimeError:  # the event loop is gone: the ingester is exiting
            return
        finally:
            if fd != 0:
                os.close(fd)

    threading.Thread(target=reader, name=f"read {path}", daemon=True).start()
    while True:
        chunk = await queue.get()
        if isinstance(chunk, Exception):
            raise InvalidInput(f"Source jsonl:{path}: cannot read: {chunk}")
        if not chunk:
            return
        yield chunk


class SyntheticSource(Source):
    """`seed-demo`'s random walk, live: Poisson arrivals at `rate` ticks/s per symbol, stamped with the clock."""

    def __init__(self, symbols: list[str], rate: float, interval: float = 0.1):
        self.symbols = symbols
        self.rate = rate
        self.interval = interval
        seed = int.from_bytes(secrets.token_bytes(4), "little")
        self.walks = [RandomWalk(s, seed=seed + i) for i, s in enumerate(symbols)]
        self.rng = np.random.default_rng(seed)

    def describe(self) -> str:
        return f"synthetic:{','.join(self.symbols)}@{self.rate:g}"

    async def run(self, sink: Sink) -> None:
        last = time.time()
        while True:
            await asyncio.sleep(self.interval)
            now = time.time()
            block = self.tick(int(last * 1000), int(now * 1000))
            last = now
            if len(block):
                await sink.put_block(block)

    def tick(self, start_ms: int, end_ms: int) -> TickBlock:
        """Ticks that arrived in [start_ms, end_ms) for every symbol."""
        codes, stamps, bids, asks = [], [], [], []
        for code, walk in enumerate(self.walks):
            n = int(self.rng.poisson(self.rate * max(0, end_ms - start_ms) / 1000.0))
            bid, ask = walk.step(n)
            codes.append(np.full(n, code, dtype="int32"))
            stamps.append(np.sort(self.rng.integers(start_ms, max(end_ms, start_ms + 1), n)).astype("int64"))
            bids.append(bid)
            asks.append(ask)
        return TickBlock.without_volumes(
            list(self.symbols),
            np.concatenate(codes),
            np.concatenate(stamps),
            np.concatenate(bids),
            np.concatenate(asks),
        )


def parse_source(spec: str, *, subscribe: str | None = None, reconnect: Backoff | None = None) -> Source:
    """`ws://…`/`wss://…`, `jsonl:PATH`/`jsonl:-` or `synthetic:SYM1,SYM2@RATE`; InvalidInput otherwise."""
    if spec.startswith(("ws://", "wss://")):
        if not urlsplit(spec).hostname:
            raise InvalidInput(f"Source {redact_ws_url(spec)!r}: the WebSocket URL has no host")
        return WebSocketSource(spec, subscribe=subscribe, backoff=reconnect)
    if spec.startswith("jsonl:"):
        path = spec[len("jsonl:") :]
        if not path:
            raise InvalidInput("Source jsonl: needs a path, or - for stdin")
        return JsonlSource(path)
    if spec.startswith("synthetic:"):
        body = spec[len("synthetic:") :]
        names, sep, rate_text = body.rpartition("@")
        if not sep:
            raise InvalidInput(f"Source {spec!r}: expected synthetic:SYM1,SYM2@RATE")
        try:
            rate = float(rate_text)
        except ValueError:
            raise InvalidInput(f"Source {spec!r}: RATE must be a number of ticks per second") from None
        if not 0 < rate <= MAX_RATE:
            raise InvalidInput(f"Source {spec!r}: RATE must be in (0, {MAX_RATE:g}] ticks/s")
        symbols = [validate_symbol(s.strip()) for s in names.split(",") if s.strip()]
        if not symbols:
            raise InvalidInput(f"Source {spec!r}: needs at least one symbol")
        return SyntheticSource(symbols, rate)
    raise InvalidInput(
        f"Unknown source {spec[:60]!r}: use ws://…, wss://…, jsonl:PATH, jsonl:- or synthetic:SYM1,SYM2@RATE"
    )
