"""Start-up: what earlier runs left in the spool (after a crash, kill -9 or an outage) goes to the lake first."""

from __future__ import annotations

from collections.abc import Callable

from ticklake_dagster.sources.ingest import logs
from ticklake_dagster.sources.ingest.parse import TickBlock
from ticklake_dagster.sources.ingest.reporting import Reporter
from ticklake_dagster.sources.ingest.spool import Spool


def replay_spool(spool: Spool, reporter: Reporter, add: Callable[[TickBlock, int], None]) -> int:
    """Hand every intact frame of every left-over segment to `add`; report torn tails and damage. -> ticks."""
    ticks, segments = 0, 0
    for seq, scan in spool.recover():
        segments += 1
        if scan.torn:
            logs.warning(
                "Spool segment ends in a torn write (a crash mid-commit; never acknowledged)",
                segment=seq,
                bytes=scan.torn,
            )
        for offset, size in scan.corrupt:
            reporter.spool_damage(seq, offset, size, str(spool.quarantine_dir))
        for block in scan.blocks:
            ticks += len(block)
            add(block, seq)
    if segments:
        logs.info("Replaying spool", ticks=ticks, segments=segments)
    return ticks
