"""The thresholds a deployment runs with: one resource, so the Dagster UI shows the values in force."""

import dagster as dg
from pydantic import Field

from ticklake_dagster.core.fields import env_field
from ticklake_dagster.core.thresholds import thresholds_from_env


class TicklakeSettings(dg.ConfigurableResource):
    """The lake sensor, asset check, retention and late-data thresholds (TICKLAKE_*, see `thresholds.ENV_FIELDS`)."""

    sensor_refresh_seconds: float = env_field("TICKLAKE_SENSOR_REFRESH_SECONDS")
    sensor_live_days: int = env_field("TICKLAKE_SENSOR_LIVE_DAYS")
    sensor_sweep_keys: int = env_field("TICKLAKE_SENSOR_SWEEP_KEYS")
    # Late parts for older days need no 30-s latency; re-listing a small lake every tick is most of its bill.
    sensor_sweep_minutes: float = env_field("TICKLAKE_SENSOR_SWEEP_MINUTES")
    sensor_skew_seconds: float = Field(
        default=60.0, ge=0, description="tolerated clock difference between the lake and Dagster"
    )
    max_rejected_ratio: float = env_field("TICKLAKE_MAX_REJECTED_RATIO")
    # Below this many rows a ratio says little (5 bad rows of 6 is a test fixture, not a broken feed).
    min_rows_for_rejected_ratio: int = env_field("TICKLAKE_MIN_ROWS_FOR_REJECTED_RATIO")
    max_gap_buckets: int = env_field("TICKLAKE_MAX_GAP_BUCKETS")
    freshness_minutes: float = env_field("TICKLAKE_FRESHNESS_MINUTES")
    watch_feed: bool = Field(default=True, description="the lake sensor reports a feed that stopped writing parts")
    retention_days: int = env_field("TICKLAKE_RETENTION_DAYS")
    late_data_days: int = env_field("TICKLAKE_LATE_DATA_DAYS")

    @classmethod
    def from_env(cls, **overrides) -> "TicklakeSettings":
        """TICKLAKE_* over the defaults, then `overrides`; a bad value is one line naming the variable."""
        return cls(**{**thresholds_from_env(), **overrides})
