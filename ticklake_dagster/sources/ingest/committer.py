"""Group commit: what the sources deliver waits a few milliseconds, then is parsed and fsynced as one spool frame.

A tick counts as accepted only once its commit is fsynced. Sources wait (backpressure) while too many
messages await a commit.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable

from ticklake_dagster.sources.ingest import logs
from ticklake_dagster.sources.ingest.frames import frame_size
from ticklake_dagster.sources.ingest.parse import ParseResult, TickBlock, concat_blocks, parse_messages
from ticklake_dagster.sources.ingest.spool import Spool

COMMIT_EARLY_AT = 50_000  # pending messages that trigger a commit before the latency window ends
MAX_PENDING = 400_000  # sources wait (backpressure) while this many messages await a commit


@dataclasses.dataclass
class Commit:
    """The outcome of one group commit."""

    parsed: ParseResult | None
    generated: int  # ticks from in-process sources (synthetic), already columnar
    block: TickBlock  # accepted: in the spool
    segment: int | None
    refused: int  # valid, but the spool was over its disk budget or failed to write
    refused_reason: str = "spool_full"
    refused_detail: str = ""


class GroupCommitter:
    """The sources' sink: collects their messages and blocks, commits them in a worker thread, hands on each Commit."""

    def __init__(
        self,
        spool: Spool,
        *,
        latency_s: float,
        budget_bytes: int,
        max_symbols: int,
        on_commit: Callable[[Commit], None],
        on_disconnect: Callable[[str], None],
        clock: Callable[[], float] = time.time,
    ):
        self.spool = spool
        self.latency_s = latency_s
        self.budget_bytes = budget_bytes
        self.max_symbols = max_symbols
        self.on_commit = on_commit
        self.on_disconnect = on_disconnect
        self.clock = clock  # wall clock: how far ahead of now a tick may be
        self.closing = False
        self._raw: list = []
        self._blocks: list[TickBlock] = []
        self._n_pending = 0
        self._pending_since = 0.0
        self._wake, self._full, self._space = asyncio.Event(), asyncio.Event(), asyncio.Event()
        self._space.set()

    # ---- the sink the sources call, on the event loop -------------------------------------------

    async def put_messages(self, messages: list) -> None:
        await self._wait_space()
        self._raw.extend(messages)
        self._note_pending(len(messages))

    async def put_block(self, block: TickBlock) -> None:
        await self._wait_space()
        self._blocks.append(block)
        self._note_pending(len(block))

    def count_disconnect(self, source: str) -> None:
        self.on_disconnect(source)

    async def _wait_space(self) -> None:
        while not self._space.is_set():
            await self._space.wait()

    def _note_pending(self, n: int) -> None:
        if self._n_pending == 0:
            self._pending_since = time.monotonic()
            self._wake.set()
        self._n_pending += n
        if self._n_pending >= COMMIT_EARLY_AT:
            self._full.set()
        if self._n_pending >= MAX_PENDING:
            self._space.clear()

    # ---- the commit loop ------------------------------------------------------------------------

    def close(self) -> None:
        """Commit what is pending now, then let `run` return."""
        self.closing = True
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            delay = self._pending_since + self.latency_s - time.monotonic()
            if delay > 0 and not self.closing and self._n_pending:
                try:
                    await asyncio.wait_for(self._full.wait(), delay)
                except asyncio.TimeoutError:
                    pass
            await self._commit_pending()
            if self.closing and not self._n_pending:
                return

    async def _commit_pending(self) -> None:
        raw, blocks = self._raw, self._blocks
        self._raw, self._blocks, self._n_pending = [], [], 0
        self._wake.clear()
        self._full.clear()
        self._space.set()
        if raw or blocks:
            self.on_commit(await asyncio.to_thread(self.commit, raw, blocks))

    def commit(self, raw: list, blocks: list[TickBlock]) -> Commit:
        """Worker thread: parse, then append + fsync unless that would pass the disk budget."""
        parsed = parse_messages(raw, int(self.clock() * 1000), self.max_symbols) if raw else None
        generated = sum(len(b) for b in blocks)
        block = concat_blocks(([parsed.block] if parsed else []) + blocks)
        if not len(block):
            return Commit(parsed, generated, block, None, 0)
        used = self.spool.bytes
        if used + frame_size(block) > self.budget_bytes:
            return Commit(
                parsed,
                generated,
                TickBlock.empty(),
                None,
                len(block),
                refused_detail=f"spool {used} bytes, budget {self.budget_bytes} bytes",
            )
        try:
            return Commit(parsed, generated, block, self.spool.append(block), 0)
        except OSError as e:
            reason = f"{type(e).__name__}: {e.strerror}"
            logs.error("Spool write failed: ticks refused", reason=reason, ticks=len(block))
            return Commit(parsed, generated, TickBlock.empty(), None, len(block), "spool_error", reason)
