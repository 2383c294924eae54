"""What the ingester tells its operators: counters and log lines for each commit, upload and failure."""

from __future__ import annotations

import time
from collections import Counter

import numpy as np

from ticklake_dagster.sources.ingest import logs
from ticklake_dagster.sources.ingest.batcher import Part
from ticklake_dagster.sources.ingest.committer import Commit
from ticklake_dagster.sources.ingest.metrics import IngestMetrics


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


class Reporter:
    """Counts every tick once (received, then accepted or rejected by reason, then uploaded) and logs parts."""

    def __init__(self, metrics: IngestMetrics, s3: bool):
        self.metrics = metrics
        self.s3 = s3  # log lines name R2 for an S3 lake, the local lake otherwise
        self.rejects = RejectLog()

    def committed(self, c: Commit) -> None:
        m = self.metrics
        m.received.inc((c.parsed.received if c.parsed else 0) + c.generated)
        rejected = Counter(c.parsed.rejected) if c.parsed else Counter()
        examples = dict(c.parsed.examples) if c.parsed else {}
        if c.refused:
            rejected[c.refused_reason] += c.refused
            examples[c.refused_reason] = c.refused_detail
        for reason, n in rejected.items():
            m.rejected.labels(reason).inc(n)
        if rejected:
            self.rejects.add(rejected, examples)
        if c.segment is not None:
            counts = np.bincount(c.block.codes, minlength=len(c.block.symbols))
            for symbol, n in zip(c.block.symbols, counts):
                if n:
                    m.accepted.labels(symbol).inc(int(n))

    def uploaded(self, part: Part, size: int) -> None:
        m = self.metrics
        m.parts.labels(part.symbol).inc()
        m.uploaded_ticks.labels(part.symbol).inc(len(part))
        m.part_bytes.inc(size)
        m.last_upload.labels(part.symbol).set(time.time())
        what = "Uploaded ticks to R2" if self.s3 else "Wrote ticks to the local lake"
        logs.info(what, symbol=part.symbol, count=len(part), key=part.key, bytes=size)

    def upload_failed(self, part: Part, reason: str, attempt: int, retry_in: float) -> None:
        self.metrics.failures.labels(part.symbol).inc()
        what = "Failed to upload batch to R2" if self.s3 else "Failed to write batch to the local lake"
        logs.warning(
            what,
            reason=reason,
            symbol=part.symbol,
            count=len(part),
            key=part.key,
            attempt=attempt,
            retry_in_seconds=round(retry_in, 2),
        )

    def spool_damage(self, segment: int, offset: int, size: int, quarantine: str) -> None:
        self.metrics.spool_corrupt_bytes.inc(size)
        logs.error(
            "Spool segment corrupt: frames lost", segment=segment, offset=offset, bytes=size, quarantine=quarantine
        )

    def spool_state(self, spool_bytes: int, spool_ticks: int) -> None:
        self.metrics.spool_bytes.set(spool_bytes)
        self.metrics.spool_ticks.set(spool_ticks)
