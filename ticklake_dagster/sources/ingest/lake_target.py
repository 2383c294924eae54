"""Which lake the ingester writes: the configured one, or without credentials the spool only or a local file lake."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ticklake_dagster.lake.storage import FileLake, Lake, S3Lake
from ticklake_dagster.sources.ingest import logs

if TYPE_CHECKING:  # `IngesterConfig` for the CLI, `IngesterResource` in Dagster: the same fields
    from ticklake_dagster.sources.ingest.config import IngesterFields

STALE_TEMP_SECONDS = 60.0  # a live put rewrites its temporary file within milliseconds


def open_lake(config: IngesterFields) -> Lake | None:
    """The lake to upload to; None in degraded 'spool' mode (ticks wait in the spool for credentials)."""
    if config.degraded:
        logs.warning(
            "R2 client not available",
            reason="no lake credentials: set R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY",
            degraded_mode=config.degraded_mode,
        )
        if config.degraded_mode == "spool":
            return None
        lake = config.fallback_lake()
        logs.info("Writing parts to the local file lake instead", lake=lake.describe())
    else:
        lake = config.lake.get_lake()
        if isinstance(lake, S3Lake):
            logs.info("R2 client initialized", lake=lake.describe())
        else:
            logs.info("Lake initialized", lake=lake.describe())
    sweep_temp_files(lake)
    return lake


def sweep_temp_files(lake: Lake) -> None:
    """A file lake's writer killed mid-put (kill -9, power cut) leaves a temporary file: remove stale ones."""
    if not isinstance(lake, FileLake):
        return
    try:
        removed = lake.remove_stale_temp_files(STALE_TEMP_SECONDS)
    except OSError as e:
        logs.warning("Cannot sweep the lake's temporary files", reason=e.strerror)
        return
    if removed:
        logs.info("Removed stale temporary files from the lake", files=removed, older_than_seconds=STALE_TEMP_SECONDS)
