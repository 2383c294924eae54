"""Parts to the lake: encoded as Parquet, retried with backoff and jitter until they land; never dropped."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from ticklake_dagster.core.errors import TicklakeError
from ticklake_dagster.lake.parts import ticks_to_parquet
from ticklake_dagster.lake.storage import Lake
from ticklake_dagster.sources.ingest.backoff import Backoff
from ticklake_dagster.sources.ingest.batcher import Part


def failure_reason(e: BaseException) -> str:
    """One line, no secret: our lake errors are written that way; anything else only by its type."""
    if isinstance(e, TicklakeError):
        return str(e).splitlines()[0][:300]
    return type(e).__name__


class Uploader:
    """A queue of parts and `concurrency` workers; a part's key is fixed, so a retry never duplicates it."""

    def __init__(
        self,
        lake: Lake,
        *,
        concurrency: int,
        backoff: Backoff,
        on_uploaded: Callable[[Part, int], None],
        on_failure: Callable[[Part, str, int, float], None],
    ):
        self.lake = lake
        self.concurrency = concurrency
        self.backoff = backoff
        self.on_uploaded = on_uploaded
        self.on_failure = on_failure
        self.queue: asyncio.Queue[Part] = asyncio.Queue()
        self.workers: list[asyncio.Task] = []
        self.pending_ticks = 0
        self.last_landed = float("-inf")  # monotonic time the last part landed
        self.last_failure = ""  # why the last attempt failed, for a give-up message

    def start(self) -> None:
        self.workers = [asyncio.create_task(self._work(), name=f"upload-{i}") for i in range(self.concurrency)]

    def submit(self, parts: list[Part]) -> None:
        for part in parts:
            self.pending_ticks += len(part)
            self.queue.put_nowait(part)

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait until every submitted part is in the lake; False if `timeout` passed first."""
        try:
            await asyncio.wait_for(self.queue.join(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    async def stop(self) -> None:
        for task in self.workers:
            task.cancel()
        await asyncio.gather(*self.workers, return_exceptions=True)

    async def _work(self) -> None:
        while True:
            part = await self.queue.get()
            try:
                size = await self._upload(part)
                self.last_landed = time.monotonic()
                self.pending_ticks -= len(part)
                self.on_uploaded(part, size)
            finally:
                self.queue.task_done()

    async def _upload(self, part: Part) -> int:
        data = await asyncio.to_thread(
            ticks_to_parquet, part.ts_ms, part.bid, part.ask, part.bid_volume, part.ask_volume
        )
        attempt = 0
        while True:
            try:
                await asyncio.to_thread(self.lake.put, part.key, data)
                return len(data)
            except Exception as e:  # connection refused, timeouts, 5xx, throttling, a full disk: all retried
                delay = self.backoff.delay(attempt)
                self.last_failure = failure_reason(e)
                self.on_failure(part, self.last_failure, attempt + 1, delay)
                await asyncio.sleep(delay)
                attempt += 1
