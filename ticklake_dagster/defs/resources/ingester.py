"""The tick ingester's configuration: one resource drives `ticklake ingest` and is visible in Dagster."""

from pathlib import Path
from typing import Literal

import dagster as dg
from pydantic import Field

from ticklake_dagster.core.errors import InvalidInput
from ticklake_dagster.core.settings import env_is_set, env_number, env_text, ticklake_home
from ticklake_dagster.defs.resources.lake import LakeResource
from ticklake_dagster.lake.storage import FileLake, Lake

# Environment variable -> (field, type): every knob of `ticklake ingest` can be set without flags.
ENV_FIELDS = {
    "TICKLAKE_INGEST_SPOOL_DIR": ("spool_dir", str),
    "TICKLAKE_INGEST_BATCH_SIZE": ("batch_size", int),
    "TICKLAKE_INGEST_MAX_AGE_SECONDS": ("batch_max_age_seconds", float),
    "TICKLAKE_INGEST_FLUSH_LATENCY_MS": ("flush_latency_ms", float),
    "TICKLAKE_INGEST_DISK_BUDGET_MB": ("disk_budget_mb", float),
    "TICKLAKE_INGEST_SEGMENT_MB": ("segment_mb", float),
    "TICKLAKE_INGEST_UPLOAD_CONCURRENCY": ("upload_concurrency", int),
    "TICKLAKE_INGEST_RETRY_BASE_SECONDS": ("retry_base_seconds", float),
    "TICKLAKE_INGEST_RETRY_MAX_SECONDS": ("retry_max_seconds", float),
    "TICKLAKE_INGEST_RECONNECT_BASE_SECONDS": ("reconnect_base_seconds", float),
    "TICKLAKE_INGEST_RECONNECT_MAX_SECONDS": ("reconnect_max_seconds", float),
    "TICKLAKE_INGEST_SHUTDOWN_TIMEOUT_SECONDS": ("shutdown_timeout_seconds", float),
    "TICKLAKE_INGEST_GIVE_UP_SECONDS": ("give_up_seconds", float),
    "TICKLAKE_INGEST_METRICS_HOST": ("metrics_host", str),
    "TICKLAKE_INGEST_METRICS_PORT": ("metrics_port", int),
    "TICKLAKE_INGEST_MAX_SYMBOLS_PER_MESSAGE": ("max_symbols_per_message", int),
    "TICKLAKE_INGEST_DEGRADED_MODE": ("degraded_mode", str),
    "TICKLAKE_INGEST_SUBSCRIBE": ("subscribe_message", str),
}


class IngesterResource(dg.ConfigurableResource):
    """Batching, spool and retry settings of the ingester, and the lake it writes to."""

    lake: LakeResource
    home: str = Field(description="TICKLAKE_HOME: the spool and the fallback file lake live under it")
    spool_dir: str | None = Field(default=None, description="write-ahead spool folder; unset = $TICKLAKE_HOME/spool")
    batch_size: int = Field(default=1000, ge=1, description="a symbol's batch is flushed at this many ticks")
    batch_max_age_seconds: float = Field(default=300.0, gt=0, description="... or this long after its first tick")
    flush_latency_ms: float = Field(default=50.0, gt=0, le=10_000, description="group commit window: max wait to fsync")
    disk_budget_mb: float = Field(default=1024.0, gt=0, description="spool size past which new ticks are refused")
    segment_mb: float = Field(default=8.0, gt=0, description="spool segment size before a new one starts")
    upload_concurrency: int = Field(default=4, ge=1, le=64)
    retry_base_seconds: float = Field(default=0.5, gt=0, description="first upload retry delay (doubles, jittered)")
    retry_max_seconds: float = Field(default=30.0, gt=0)
    reconnect_base_seconds: float = Field(default=0.5, gt=0, description="first WebSocket reconnect delay")
    reconnect_max_seconds: float = Field(default=30.0, gt=0)
    shutdown_timeout_seconds: float = Field(default=30.0, ge=0, description="SIGTERM: how long to keep uploading")
    max_symbols_per_message: int = Field(
        default=10_000, ge=1, description="a feed message naming more distinct symbols is refused (too_many_symbols)"
    )
    give_up_seconds: float = Field(
        default=300.0,
        gt=0,
        description="finite sources: exit 1 (keeping the spool) once the lake took no part this long",
    )
    metrics_host: str = Field(default="127.0.0.1", description="address /metrics and /health listen on")
    metrics_port: int | None = Field(default=None, ge=0, le=65535, description="unset = no metrics server")
    degraded_mode: Literal["spool", "file"] = Field(
        default="spool",
        description="no lake credentials: 'spool' keeps ticks in the spool until a restart with credentials, "
        "'file' writes parts to the local file lake under $TICKLAKE_HOME/lake",
    )
    subscribe_message: str | None = Field(default=None, description="sent on every WebSocket (re)connect")

    @classmethod
    def from_env(cls, lake: LakeResource | None = None, **overrides) -> "IngesterResource":
        """TICKLAKE_INGEST_* (see ENV_FIELDS) over the defaults, then `overrides` (the CLI's flags)."""
        values: dict = {}
        for name, (field, kind) in ENV_FIELDS.items():
            value = env_text(name) if kind is str else (env_number(name, 0, kind) if env_is_set(name) else None)
            if value is not None:
                values[field] = value
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(lake=lake or LakeResource.from_env(), home=str(ticklake_home()), **values)
        except Exception as e:  # pydantic's ValidationError: one line per field is plenty
            errors = getattr(e, "errors", None)
            if callable(errors):
                first = errors()[0]
                raise InvalidInput(
                    f"Invalid ingester setting {'.'.join(map(str, first['loc']))}: {first['msg']}"
                ) from None
            raise

    def resolved_spool_dir(self) -> Path:
        return Path(self.spool_dir).resolve() if self.spool_dir else Path(self.home) / "spool"

    @property
    def degraded(self) -> bool:
        """An S3 lake without credentials: the ingester logs "R2 client not available" and runs degraded."""
        return self.lake.is_s3 and not self.lake.has_credentials()

    def fallback_lake(self) -> Lake:
        return FileLake(Path(self.home) / "lake")
