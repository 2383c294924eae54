"""`ticklake ingest` wired together: sources -> group commit to the spool -> per-symbol batches -> uploads.

Everything runs on one asyncio loop; parsing + fsync and Parquet encoding + uploads run in worker threads.
A tick counts as accepted only once its commit is fsynced; it leaves the spool only once its part is in
the lake. Finite sources end the run after everything is uploaded; SIGTERM/SIGINT flush every batch first.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import threading
import time
from collections import Counter

import numpy as np

from ticklake_dagster.errors import TicklakeError
from ticklake_dagster.ingest import logs
from ticklake_dagster.ingest.backoff import Backoff
from ticklake_dagster.ingest.batcher import Part, TickBatcher
from ticklake_dagster.ingest.metrics import IngestMetrics, MetricsServer
from ticklake_dagster.ingest.parse import ParseResult, TickBlock, concat_blocks, parse_messages
from ticklake_dagster.ingest.sources import Source
from ticklake_dagster.ingest.spool import Spool
from ticklake_dagster.ingest.uploader import Uploader
from ticklake_dagster.lake_storage import Lake, S3Lake
from ticklake_dagster.resources.ingester import IngesterResource

COMMIT_EARLY_AT = 50_000  # pending messages that trigger a commit before the latency window ends
MAX_PENDING = 400_000  # sources wait (backpressure) while this many messages await a commit
FRAME_OVERHEAD = 64


@dataclasses.dataclass
class _Commit:
    parsed: ParseResult | None
    generated: int  # ticks from in-process sources (synthetic), already columnar
    block: TickBlock  # accepted: in the spool
    segment: int | None
    refused: int  # valid, but the spool was over its disk budget or failed to write
    refused_reason: str = "spool_full"


class RejectLog:
    """Bad input is logged at a bounded rate: each reason's first sample at once, then a summary per interval."""

    def __init__(self, interval_s: float = 10.0):
        self.interval_s = interval_s
        self._seen: set[str] = set()
        self._since: Counter = Counter()
        self._last = time.monotonic()

    def add(self, rejected: Counter, examples: dict) -> None:
        for reason, n in rejected.items():
            if reason not in self._seen:
                self._seen.add(reason)
                logs.warning("Rejected tick", reason=reason, count=n, sample=examples.get(reason, ""))
            else:
                self._since[reason] += n
        self.tick()

    def tick(self) -> None:
        if self._since and time.monotonic() - self._last >= self.interval_s:
            logs.warning("Rejected ticks", counts=dict(self._since), seconds=round(time.monotonic() - self._last, 1))
            self._since.clear()
            self._last = time.monotonic()


class IngestService:
    """One ingester process: owns its spool (locked), its batcher, its uploader and its sources."""

    def __init__(
        self,
        config: IngesterResource,
        sources: list[Source],
        *,
        metrics_port: int | None = None,
        metrics_host: str = "0.0.0.0",
        handle_signals: bool = True,
    ):
        self.config = config
        self.sources = sources
        self.metrics = IngestMetrics()
        self.metrics_port = metrics_port
        self.metrics_host = metrics_host
        self.handle_signals = handle_signals
        self.batcher = TickBatcher(config.batch_size, config.batch_max_age_seconds)
        self.ready = threading.Event()  # set once the spool is replayed and sources run (tests wait on it)
        self.lake: Lake | None = None
        self.spool: Spool | None = None
        self.uploader: Uploader | None = None
        self.rejects = RejectLog()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._raw: list = []
        self._blocks: list[TickBlock] = []
        self._n_pending = 0
        self._pending_since = 0.0
        self._closing = False
        self._status = "starting"
        self._signals = 0
        self._budget = int(config.disk_budget_mb * (1 << 20))

    # ---- control -------------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Graceful shutdown (what SIGTERM does); safe to call from any thread."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    def _on_signal(self, signum: int) -> None:
        self._signals += 1
        if self._signals > 1:
            logs.warning("Second signal: exiting now; the spool keeps every accepted tick", signal=signum)
            os._exit(130)
        logs.info("Shutting down: flushing every batch", signal=signal.Signals(signum).name)
        self._stop.set()

    # ---- sink (called by sources on the loop) --------------------------------------------------

    async def put_messages(self, messages: list) -> None:
        await self._wait_space()
        self._raw.extend(messages)
        self._note_pending(len(messages))

    async def put_block(self, block: TickBlock) -> None:
        await self._wait_space()
        self._blocks.append(block)
        self._note_pending(len(block))

    def count_disconnect(self, source: str) -> None:
        self.metrics.disconnects.labels(source).inc()

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

    # ---- group commit --------------------------------------------------------------------------

    async def _committer(self) -> None:
        latency = self.config.flush_latency_ms / 1000.0
        while True:
            await self._wake.wait()
            delay = self._pending_since + latency - time.monotonic()
            if delay > 0 and not self._closing and self._n_pending:
                try:
                    await asyncio.wait_for(self._full.wait(), delay)
                except asyncio.TimeoutError:
                    pass
            await self._commit_pending()
            if self._closing and not self._n_pending:
                return

    async def _commit_pending(self) -> None:
        raw, blocks = self._raw, self._blocks
        self._raw, self._blocks, self._n_pending = [], [], 0
        self._wake.clear()
        self._full.clear()
        self._space.set()
        if raw or blocks:
            self._after_commit(await asyncio.to_thread(self._commit, raw, blocks))

    def _commit(self, raw: list, blocks: list[TickBlock]) -> _Commit:
        """Worker thread: parse, then append + fsync unless that would pass the disk budget."""
        parsed = parse_messages(raw, int(time.time() * 1000)) if raw else None
        generated = sum(len(b) for b in blocks)
        block = concat_blocks(([parsed.block] if parsed else []) + blocks)
        if not len(block):
            return _Commit(parsed, generated, block, None, 0)
        size = FRAME_OVERHEAD + sum(len(s) + 1 for s in block.symbols) + 28 * len(block)
        if self.spool.bytes + size > self._budget:
            return _Commit(parsed, generated, TickBlock.empty(), None, len(block))
        try:
            return _Commit(parsed, generated, block, self.spool.append(block), 0)
        except OSError as e:
            logs.error("Spool write failed: ticks refused", reason=f"{type(e).__name__}: {e.strerror}", ticks=len(block))
            return _Commit(parsed, generated, TickBlock.empty(), None, len(block), "spool_error")

    def _after_commit(self, c: _Commit) -> None:
        m = self.metrics
        m.received.inc((c.parsed.received if c.parsed else 0) + c.generated)
        rejected = Counter(c.parsed.rejected) if c.parsed else Counter()
        examples = dict(c.parsed.examples) if c.parsed else {}
        if c.refused:
            rejected[c.refused_reason] += c.refused
            examples[c.refused_reason] = f"spool {self.spool.bytes} bytes, budget {self._budget} bytes"
        for reason, n in rejected.items():
            m.rejected.labels(reason).inc(n)
        if rejected:
            self.rejects.add(rejected, examples)
        if c.segment is not None:
            counts = np.bincount(c.block.codes, minlength=len(c.block.symbols))
            for symbol, n in zip(c.block.symbols, counts):
                if n:
                    m.accepted.labels(symbol).inc(int(n))
            self._submit(self.batcher.add(c.block, c.segment))
        self._update_gauges()

    # ---- batches and uploads -------------------------------------------------------------------

    def _submit(self, parts: list[Part]) -> None:
        if parts and self.uploader is not None:
            self.uploader.submit(parts)
        # Degraded 'spool' mode: no lake, so the parts stay only in the spool until a restart with credentials.

    def _on_uploaded(self, part: Part, size: int) -> None:
        self.spool.release(part.refs)
        m = self.metrics
        m.parts.labels(part.symbol).inc()
        m.uploaded_ticks.labels(part.symbol).inc(len(part))
        m.part_bytes.inc(size)
        m.last_upload.labels(part.symbol).set(time.time())
        if isinstance(self.lake, S3Lake):
            logs.info("Uploaded ticks to R2", symbol=part.symbol, count=len(part), key=part.key, bytes=size)
        else:
            logs.info("Wrote ticks to the local lake", symbol=part.symbol, count=len(part), key=part.key, bytes=size)
        self._update_gauges()

    def _on_upload_failure(self, part: Part, reason: str, attempt: int, retry_in: float) -> None:
        self.metrics.failures.labels(part.symbol).inc()
        what = "Failed to upload batch to R2" if isinstance(self.lake, S3Lake) else "Failed to write batch to the local lake"
        logs.warning(what, reason=reason, symbol=part.symbol, count=len(part), key=part.key, attempt=attempt,
                     retry_in_seconds=round(retry_in, 2))

    async def _ticker(self) -> None:
        """Flush batches that reached max age, seal idle spool segments, keep gauges fresh."""
        period = min(1.0, self.config.batch_max_age_seconds / 4)
        while True:
            await asyncio.sleep(period)
            self._submit(self.batcher.due())
            self.spool.seal_if_idle()
            self.rejects.tick()
            self._update_gauges()

    def _update_gauges(self) -> None:
        self.metrics.spool_bytes.set(self.spool.bytes)
        self.metrics.spool_ticks.set(self.spool.outstanding)

    def health(self) -> dict:
        m = self.metrics
        return {
            "status": self._status,
            "degraded": self.config.degraded,  # "R2 client not available"
            "lake": self.lake.describe() if self.lake else None,
            "spool_bytes": self.spool.bytes if self.spool else 0,
            "spool_ticks": self.spool.outstanding if self.spool else 0,
            "batched_ticks": self.batcher.pending_ticks,
            "ticks_accepted": int(m.total("ticklake_ingest_ticks_accepted_total")),
            "ticks_uploaded": int(m.total("ticklake_ingest_ticks_uploaded_total")),
        }

    # ---- lifecycle -----------------------------------------------------------------------------

    def _open_lake(self) -> Lake | None:
        cfg = self.config
        if cfg.degraded:
            logs.warning("R2 client not available", reason="no lake credentials: set R2_ACCESS_KEY_ID and "
                         "R2_SECRET_ACCESS_KEY", degraded_mode=cfg.degraded_mode)
            if cfg.degraded_mode == "spool":
                return None
            lake = cfg.fallback_lake()
            logs.info("Writing parts to the local file lake instead", lake=lake.describe())
            return lake
        lake = cfg.lake.get_lake()
        if isinstance(lake, S3Lake):
            logs.info("R2 client initialized", lake=lake.describe())
        else:
            logs.info("Lake initialized", lake=lake.describe())
        return lake

    async def run(self) -> int:
        """Run until every finite source ended and its ticks are uploaded, or until stopped."""
        self._loop = asyncio.get_running_loop()
        self._stop, self._wake, self._full, self._space = (asyncio.Event() for _ in range(4))
        self._space.set()
        cfg = self.config
        self.spool = Spool(cfg.resolved_spool_dir(), int(cfg.segment_mb * (1 << 20)), cfg.batch_max_age_seconds)
        server = None
        try:
            if self.handle_signals and threading.current_thread() is threading.main_thread():
                for sig in (signal.SIGTERM, signal.SIGINT):
                    self._loop.add_signal_handler(sig, self._on_signal, sig)
            self.lake = self._open_lake()
            self._status = "ok" if self.lake is not None else "degraded"
            if self.lake is not None:
                self.uploader = Uploader(
                    self.lake, concurrency=cfg.upload_concurrency,
                    backoff=Backoff(cfg.retry_base_seconds, cfg.retry_max_seconds),
                    on_uploaded=self._on_uploaded, on_failure=self._on_upload_failure,
                )
                self.uploader.start()
            if self.metrics_port is not None:
                server = MetricsServer(self.metrics, self.health, self.metrics_port, self.metrics_host)
                self.metrics_port = server.port
                logs.info("Metrics listening", port=server.port, paths=["/metrics", "/health"])
            logs.info("TickBatcher initialized", batch_size=cfg.batch_size, max_age_seconds=cfg.batch_max_age_seconds,
                      spool=str(self.spool.dir), sources=[s.describe() for s in self.sources])
            self._replay()
            return await self._serve()
        finally:
            if self.uploader is not None:
                await self.uploader.stop()
            left = self.spool.outstanding
            self.spool.close()
            if server is not None:
                server.close()
            if self.handle_signals and threading.current_thread() is threading.main_thread():
                for sig in (signal.SIGTERM, signal.SIGINT):
                    self._loop.remove_signal_handler(sig)
            if left:
                logs.warning("Ticks left in the spool: they are uploaded on the next start", ticks=left,
                             spool=str(self.spool.dir))

    def _replay(self) -> None:
        """Upload what earlier runs left in the spool (after a crash, kill -9, or an outage) first."""
        ticks, segments = 0, set()
        for seq, block, torn in self.spool.recover():
            segments.add(seq)
            if torn:
                logs.warning("Spool segment ends in a torn write (a crash mid-commit; never acknowledged)",
                             segment=seq, bytes=torn)
            if len(block):
                ticks += len(block)
                self._submit(self.batcher.add(block, seq))
        self._submit(self.batcher.flush_all())
        if segments:
            logs.info("Replaying spool", ticks=ticks, segments=len(segments))
        self._update_gauges()

    async def _serve(self) -> int:
        committer = asyncio.create_task(self._committer(), name="committer")
        ticker = asyncio.create_task(self._ticker(), name="ticker")
        feeds = [asyncio.create_task(self._feed(s), name=s.describe()) for s in self.sources]
        stop = asyncio.create_task(self._stop.wait())
        self.ready.set()
        finite = all(s.finite for s in self.sources)
        waiting = {stop, *feeds} if finite else {stop}
        while waiting - {stop} or not finite:
            done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if stop in done:
                break
        stopped = self._stop.is_set()
        self._status = "stopping"
        for task in feeds:
            task.cancel()
        await asyncio.gather(*feeds, return_exceptions=True)
        self._closing = True
        self._wake.set()
        await committer
        self._submit(self.batcher.flush_all())
        if self.uploader is not None:
            await self._drain(stopped)
        else:
            logs.warning("Ticks kept in the spool: R2 client not available", ticks=self.spool.outstanding)
        ticker.cancel()
        stop.cancel()
        await asyncio.gather(ticker, stop, return_exceptions=True)
        m = self.metrics
        logs.info("Ingester stopped", received=int(m.total("ticklake_ingest_ticks_received_total")),
                  accepted=int(m.total("ticklake_ingest_ticks_accepted_total")),
                  rejected=int(m.total("ticklake_ingest_ticks_rejected_total")),
                  uploaded=int(m.total("ticklake_ingest_ticks_uploaded_total")),
                  parts=int(m.total("ticklake_ingest_parts_uploaded_total")))
        return 0

    async def _drain(self, stopped: bool) -> None:
        """Wait for every part: without limit after a finite source, `shutdown_timeout` once asked to stop."""
        drain = asyncio.create_task(self.uploader.drain())
        if not stopped:
            stop = asyncio.create_task(self._stop.wait())
            await asyncio.wait({drain, stop}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
        if not drain.done():
            await asyncio.wait({drain}, timeout=self.config.shutdown_timeout_seconds)
        if not drain.done():
            drain.cancel()
            logs.warning("Shutdown timeout: stopping with parts not yet uploaded",
                         ticks=self.uploader.pending_ticks, timeout_seconds=self.config.shutdown_timeout_seconds)

    async def _feed(self, source: Source) -> None:
        try:
            await source.run(self)
            logs.info("Source ended", source=source.describe())
        except asyncio.CancelledError:
            raise
        except TicklakeError as e:
            logs.error("Source failed", source=source.describe(), reason=str(e))
        except Exception as e:  # a source must never take the ingester down with it
            logs.error("Source failed", source=source.describe(), reason=f"{type(e).__name__}: {e}"[:300])


def run_service(service: IngestService) -> int:
    return asyncio.run(service.run())
