"""`ticklake ingest`'s lifecycle: start the parts, run the sources, stop cleanly, or fail loudly.

Sources -> group commit to the spool (committer.py) -> per-symbol batches (batcher.py) -> uploads
(uploader.py), all on one asyncio loop; parsing + fsync and Parquet encoding + uploads run in worker
threads. A tick counts as accepted only once its commit is fsynced; it leaves the spool only once its
part is in the lake. Finite sources end the run after everything is uploaded (or once the lake took
nothing for `give_up_seconds`); SIGTERM/SIGINT flush every batch first. If a part the run depends on
dies, the run stops with status 1 and /health answers 503: never a silent stall.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from typing import TYPE_CHECKING

from ticklake_dagster.core.errors import TicklakeError
from ticklake_dagster.lake.storage import Lake, S3Lake
from ticklake_dagster.sources.ingest import logs
from ticklake_dagster.sources.ingest.backoff import Backoff
from ticklake_dagster.sources.ingest.batcher import Part, TickBatcher
from ticklake_dagster.sources.ingest.committer import Commit, GroupCommitter
from ticklake_dagster.sources.ingest.lake_target import open_lake
from ticklake_dagster.sources.ingest.metrics import IngestMetrics, MetricsServer
from ticklake_dagster.sources.ingest.replay import replay_spool
from ticklake_dagster.sources.ingest.reporting import Reporter
from ticklake_dagster.sources.ingest.sources import Source
from ticklake_dagster.sources.ingest.spool import Spool
from ticklake_dagster.sources.ingest.uploader import Uploader

if TYPE_CHECKING:  # `IngesterConfig` for the CLI, `IngesterResource` in Dagster: the same fields
    from ticklake_dagster.sources.ingest.config import IngesterFields


class IngestService:
    """One ingester process: owns its spool (locked), its committer, its batcher, its uploader and its sources."""

    def __init__(
        self,
        config: IngesterFields,
        sources: list[Source],
        *,
        metrics_port: int | None = None,
        metrics_host: str | None = None,
        handle_signals: bool = True,
    ):
        self.config = config
        self.sources = sources
        self.metrics = IngestMetrics()
        self.metrics_port = config.metrics_port if metrics_port is None else metrics_port
        self.metrics_host = metrics_host or config.metrics_host
        self.metrics_address: tuple[str, int] | None = None
        self.handle_signals = handle_signals
        self.batcher = TickBatcher(config.batch_size, config.batch_max_age_seconds)
        self.ready = threading.Event()  # set once the spool is replayed and sources run (tests wait on it)
        self.lake: Lake | None = None
        self.spool: Spool | None = None
        self.uploader: Uploader | None = None
        self.committer: GroupCommitter | None = None
        self.reporter = Reporter(self.metrics, s3=False)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._status = "starting"
        self._failure: str | None = None
        self._signals = 0
        self._drain_started = 0.0

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
        assert self._stop is not None  # the handler is installed by run(), after it made the event
        self._stop.set()

    def _watch(self, task: asyncio.Task) -> asyncio.Task:
        """An essential task that ends with an error (or ends before shutdown) stops the ingester with status 1."""
        task.add_done_callback(self._on_essential_done)
        return task

    def _on_essential_done(self, task: asyncio.Task) -> None:
        assert self.committer is not None  # essential tasks start in _serve(), after run() made the committer
        if task.cancelled() or (task.exception() is None and self.committer.closing):
            return
        e = task.exception()
        self._fail(f"{task.get_name()}: {type(e).__name__}: {e}" if e else f"{task.get_name()} ended unexpectedly")

    def _fail(self, reason: str) -> None:
        if self._failure is None:
            self._failure = reason
            self._status = "failed"
            logs.error("Ingester failed: stopping", reason=reason.splitlines()[0][:300] if reason else "")
        assert self._stop is not None  # failures come from tasks run() started, after it made the event
        self._stop.set()

    # ---- commits, batches and uploads ------------------------------------------------------------

    def _on_commit(self, c: Commit) -> None:
        self.reporter.committed(c)
        if c.segment is not None:
            self._submit(self.batcher.add(c.block, c.segment))
        self._update_gauges()

    def _submit(self, parts: list[Part]) -> None:
        if parts and self.uploader is not None:
            self.uploader.submit(parts)
        # Degraded 'spool' mode: no lake, so the parts stay only in the spool until a restart with credentials.

    def _on_uploaded(self, part: Part, size: int) -> None:
        assert self.spool is not None  # the uploader exists only once run() opened the spool
        self.spool.release(part.refs)
        self.reporter.uploaded(part, size)
        self._update_gauges()

    async def _ticker(self) -> None:
        """Flush batches that reached max age, seal idle spool segments, keep gauges fresh."""
        period = min(1.0, self.config.batch_max_age_seconds / 4)
        assert self.spool is not None  # started by _serve(), after run() opened the spool
        while True:
            await asyncio.sleep(period)
            self._submit(self.batcher.due())
            self.spool.seal_if_idle()
            self.reporter.rejects.tick()
            self._update_gauges()

    def _update_gauges(self) -> None:
        assert self.spool is not None  # called from run() on, once the spool is open
        self.reporter.spool_state(self.spool.bytes, self.spool.outstanding)

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

    async def run(self) -> int:
        """Run until every finite source ended and its ticks are uploaded, or until stopped; -> exit status."""
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        cfg = self.config
        self.spool = Spool(cfg.resolved_spool_dir(), int(cfg.segment_mb * (1 << 20)), cfg.batch_max_age_seconds)
        self.committer = GroupCommitter(
            self.spool,
            latency_s=cfg.flush_latency_ms / 1000.0,
            budget_bytes=int(cfg.disk_budget_mb * (1 << 20)),
            max_symbols=cfg.max_symbols_per_message,
            on_commit=self._on_commit,
            on_disconnect=lambda source: self.metrics.disconnects.labels(source).inc(),
        )
        server = None
        signals = self.handle_signals and threading.current_thread() is threading.main_thread()
        try:
            if signals:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    self._loop.add_signal_handler(sig, self._on_signal, sig)
            self.lake = open_lake(cfg)
            self.reporter.s3 = isinstance(self.lake, S3Lake)
            self._status = "ok" if self.lake is not None else "degraded"
            if self.lake is not None:
                self.uploader = Uploader(
                    self.lake,
                    concurrency=cfg.upload_concurrency,
                    backoff=Backoff(cfg.retry_base_seconds, cfg.retry_max_seconds),
                    on_uploaded=self._on_uploaded,
                    on_failure=self.reporter.upload_failed,
                )
                self.uploader.start()
            if self.metrics_port is not None:
                server = MetricsServer(self.metrics, self.health, self.metrics_port, self.metrics_host)
                self.metrics_port, self.metrics_address = server.port, server.address
                logs.info("Metrics listening", host=self.metrics_host, port=server.port, paths=["/metrics", "/health"])
            logs.info(
                "TickBatcher initialized",
                batch_size=cfg.batch_size,
                max_age_seconds=cfg.batch_max_age_seconds,
                spool=str(self.spool.dir),
                sources=[s.describe() for s in self.sources],
            )
            replay_spool(self.spool, self.reporter, lambda block, seq: self._submit(self.batcher.add(block, seq)))
            self._submit(self.batcher.flush_all())
            self._update_gauges()
            return await self._serve()
        finally:
            if self.uploader is not None:
                await self.uploader.stop()
            left = self.spool.outstanding
            self.spool.close()
            if server is not None:
                server.close()
            if signals:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    self._loop.remove_signal_handler(sig)
            if left:
                logs.warning(
                    "Ticks left in the spool: they are uploaded on the next start",
                    ticks=left,
                    spool=str(self.spool.dir),
                )

    async def _serve(self) -> int:
        assert self.spool is not None and self.committer is not None and self._stop is not None  # run() made them
        committer = self._watch(asyncio.create_task(self.committer.run(), name="committer"))
        ticker = self._watch(asyncio.create_task(self._ticker(), name="ticker"))
        if self.uploader is not None:
            for worker in self.uploader.workers:
                self._watch(worker)
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
        if self._failure is None:
            self._status = "stopping"
        for task in feeds:
            task.cancel()
        await asyncio.gather(*feeds, return_exceptions=True)
        self.committer.close()
        await asyncio.gather(committer, return_exceptions=True)  # a dead committer's error is already logged
        self._submit(self.batcher.flush_all())
        self._drain_started = time.monotonic()
        if self.uploader is not None:
            await self._drain(stopped)
        else:
            logs.warning("Ticks kept in the spool: R2 client not available", ticks=self.spool.outstanding)
        ticker.cancel()
        stop.cancel()
        await asyncio.gather(ticker, stop, return_exceptions=True)
        m = self.metrics
        logs.info(
            "Ingester stopped",
            received=int(m.total("ticklake_ingest_ticks_received_total")),
            accepted=int(m.total("ticklake_ingest_ticks_accepted_total")),
            rejected=int(m.total("ticklake_ingest_ticks_rejected_total")),
            uploaded=int(m.total("ticklake_ingest_ticks_uploaded_total")),
            parts=int(m.total("ticklake_ingest_parts_uploaded_total")),
        )
        return 0 if self._failure is None else 1

    async def _drain(self, stopped: bool) -> None:
        """Wait for every part: after finite sources until the lake took nothing for `give_up_seconds`,
        `shutdown_timeout` once asked to stop."""
        assert self.uploader is not None and self._stop is not None  # _serve() drains only when there is an uploader
        drain = asyncio.create_task(self.uploader.drain())
        if not stopped:
            stop = asyncio.create_task(self._stop.wait())
            give_up = self.config.give_up_seconds
            while not (drain.done() or stop.done()):
                idle = time.monotonic() - max(self.uploader.last_landed, self._drain_started)
                if idle >= give_up:
                    self._give_up(drain)
                    break
                await asyncio.wait({drain, stop}, timeout=give_up - idle, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
        if not drain.done():
            await asyncio.wait({drain}, timeout=self.config.shutdown_timeout_seconds)
        if not drain.done():
            drain.cancel()
            logs.warning(
                "Shutdown timeout: stopping with parts not yet uploaded",
                ticks=self.uploader.pending_ticks,
                timeout_seconds=self.config.shutdown_timeout_seconds,
            )

    def _give_up(self, drain: asyncio.Task) -> None:
        assert self.spool is not None and self.uploader is not None  # called by _drain()
        drain.cancel()
        self._failure = "gave up on the lake"
        self._status = "failed"
        logs.error(
            "Giving up: the lake took no part; the spool keeps every accepted tick for the next start",
            ticks=self.spool.outstanding,
            give_up_seconds=self.config.give_up_seconds,
            reason=self.uploader.last_failure,
            spool=str(self.spool.dir),
        )

    async def _feed(self, source: Source) -> None:
        assert self.committer is not None  # feeds start in _serve(), after run() made the committer
        try:
            await source.run(self.committer)
            logs.info("Source ended", source=source.describe())
        except asyncio.CancelledError:
            raise
        except TicklakeError as e:
            logs.error("Source failed", source=source.describe(), reason=str(e))
        except Exception as e:  # a source must never take the ingester down with it
            logs.error("Source failed", source=source.describe(), reason=f"{type(e).__name__}: {e}"[:300])


def run_service(service: IngestService) -> int:
    return asyncio.run(service.run())
