"""The ingester's settings: batching, spool, retries, metrics and degraded mode, and the lake it writes to.

Plain code, so `ticklake ingest` starts without importing Dagster. The fields are declared once, in
`IngesterFields`: `IngesterConfig` adds the plain `LakeConfig`, and `IngesterResource` (defs/resources) adds
the `LakeResource`, so the same variables, defaults, bounds and messages drive both and the UI shows them.
"""

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, Self

from pydantic import BaseModel, ConfigDict, Field

from ticklake_dagster.core.errors import InvalidInput
from ticklake_dagster.core.fields import env_field
from ticklake_dagster.core.settings import get, ticklake_home
from ticklake_dagster.lake.config import LakeConfig
from ticklake_dagster.lake.storage import FileLake, Lake

# Environment variable -> field: every knob of `ticklake ingest` can be set without flags. Kinds, defaults
# and bounds are the registry's (core/settings.py).
ENV_FIELDS = {
    "TICKLAKE_INGEST_SPOOL_DIR": "spool_dir",
    "TICKLAKE_INGEST_BATCH_SIZE": "batch_size",
    "TICKLAKE_INGEST_MAX_AGE_SECONDS": "batch_max_age_seconds",
    "TICKLAKE_INGEST_FLUSH_LATENCY_MS": "flush_latency_ms",
    "TICKLAKE_INGEST_DISK_BUDGET_MB": "disk_budget_mb",
    "TICKLAKE_INGEST_SEGMENT_MB": "segment_mb",
    "TICKLAKE_INGEST_UPLOAD_CONCURRENCY": "upload_concurrency",
    "TICKLAKE_INGEST_RETRY_BASE_SECONDS": "retry_base_seconds",
    "TICKLAKE_INGEST_RETRY_MAX_SECONDS": "retry_max_seconds",
    "TICKLAKE_INGEST_RECONNECT_BASE_SECONDS": "reconnect_base_seconds",
    "TICKLAKE_INGEST_RECONNECT_MAX_SECONDS": "reconnect_max_seconds",
    "TICKLAKE_INGEST_SHUTDOWN_TIMEOUT_SECONDS": "shutdown_timeout_seconds",
    "TICKLAKE_INGEST_GIVE_UP_SECONDS": "give_up_seconds",
    "TICKLAKE_INGEST_METRICS_HOST": "metrics_host",
    "TICKLAKE_INGEST_METRICS_PORT": "metrics_port",
    "TICKLAKE_INGEST_MAX_SYMBOLS_PER_MESSAGE": "max_symbols_per_message",
    "TICKLAKE_INGEST_DEGRADED_MODE": "degraded_mode",
    "TICKLAKE_INGEST_SUBSCRIBE": "subscribe_message",
}


class IngestLake(Protocol):
    """What the ingester asks of its lake's configuration: `LakeConfig`, or `LakeResource` in Dagster."""

    @property
    def is_s3(self) -> bool: ...

    def has_credentials(self) -> bool: ...

    def get_lake(self) -> Lake: ...


class IngesterFields(BaseModel):
    """Batching, spool and retry settings of the ingester; a subclass declares `lake`, the lake it writes to."""

    if TYPE_CHECKING:  # not a field here: `IngesterConfig` and `IngesterResource` each declare their own kind
        lake: IngestLake

    home: str = Field(description="TICKLAKE_HOME: the spool and the fallback file lake live under it")
    spool_dir: str | None = env_field("TICKLAKE_INGEST_SPOOL_DIR")
    batch_size: int = env_field("TICKLAKE_INGEST_BATCH_SIZE")
    batch_max_age_seconds: float = env_field("TICKLAKE_INGEST_MAX_AGE_SECONDS")
    flush_latency_ms: float = env_field("TICKLAKE_INGEST_FLUSH_LATENCY_MS")
    disk_budget_mb: float = env_field("TICKLAKE_INGEST_DISK_BUDGET_MB")
    segment_mb: float = env_field("TICKLAKE_INGEST_SEGMENT_MB")
    upload_concurrency: int = env_field("TICKLAKE_INGEST_UPLOAD_CONCURRENCY")
    retry_base_seconds: float = env_field("TICKLAKE_INGEST_RETRY_BASE_SECONDS")
    retry_max_seconds: float = env_field("TICKLAKE_INGEST_RETRY_MAX_SECONDS")
    reconnect_base_seconds: float = env_field("TICKLAKE_INGEST_RECONNECT_BASE_SECONDS")
    reconnect_max_seconds: float = env_field("TICKLAKE_INGEST_RECONNECT_MAX_SECONDS")
    shutdown_timeout_seconds: float = env_field("TICKLAKE_INGEST_SHUTDOWN_TIMEOUT_SECONDS")
    max_symbols_per_message: int = env_field("TICKLAKE_INGEST_MAX_SYMBOLS_PER_MESSAGE")
    give_up_seconds: float = env_field("TICKLAKE_INGEST_GIVE_UP_SECONDS")
    metrics_host: str = env_field("TICKLAKE_INGEST_METRICS_HOST")
    metrics_port: int | None = env_field("TICKLAKE_INGEST_METRICS_PORT")
    degraded_mode: Literal["spool", "file"] = env_field("TICKLAKE_INGEST_DEGRADED_MODE")
    subscribe_message: str | None = env_field("TICKLAKE_INGEST_SUBSCRIBE")

    @classmethod
    def lake_from_env(cls) -> IngestLake:
        """The lake `from_env` uses when given none, in the subclass's kind."""
        raise NotImplementedError

    @classmethod
    def from_env(cls, lake: IngestLake | None = None, **overrides: Any) -> Self:
        """TICKLAKE_INGEST_* (see ENV_FIELDS) over the defaults, then `overrides` (the CLI's flags).

        The fields check the bounds, so an out-of-bounds flag and variable read alike: one line naming the field.
        """
        values = {field: get(name, check_bounds=False) for name, field in ENV_FIELDS.items()}
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(lake=lake or cls.lake_from_env(), home=str(ticklake_home()), **values)
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


class IngesterConfig(IngesterFields):
    """What `ticklake ingest` runs with: the fields, and the plain `LakeConfig`."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)  # frozen, as a Dagster resource is

    lake: LakeConfig

    @classmethod
    def lake_from_env(cls) -> LakeConfig:
        return LakeConfig.from_env()
