"""The thresholds a deployment runs with: one resource, so the Dagster UI shows the values in force."""

import dagster as dg
from pydantic import Field

from ticklake_dagster.core.settings import env_number

# Environment variable -> (field, type, minimum): every threshold can be set without code.
ENV_FIELDS = {
    "TICKLAKE_SENSOR_REFRESH_SECONDS": ("sensor_refresh_seconds", float, 0),
    "TICKLAKE_SENSOR_LIVE_DAYS": ("sensor_live_days", int, 1),
    "TICKLAKE_SENSOR_SWEEP_KEYS": ("sensor_sweep_keys", int, 0),
    "TICKLAKE_SENSOR_SWEEP_MINUTES": ("sensor_sweep_minutes", float, 0),
    "TICKLAKE_MAX_REJECTED_RATIO": ("max_rejected_ratio", float, 0),
    "TICKLAKE_MIN_ROWS_FOR_REJECTED_RATIO": ("min_rows_for_rejected_ratio", int, 0),
    "TICKLAKE_MAX_GAP_BUCKETS": ("max_gap_buckets", int, 0),
    "TICKLAKE_FRESHNESS_MINUTES": ("freshness_minutes", float, 0),
    "TICKLAKE_RETENTION_DAYS": ("retention_days", int, 1),
    "TICKLAKE_LATE_DATA_DAYS": ("late_data_days", int, 0),
}


class TicklakeSettings(dg.ConfigurableResource):
    """The lake sensor, asset check, retention and late-data thresholds (TICKLAKE_* variables, see ENV_FIELDS)."""

    sensor_refresh_seconds: float = Field(
        default=300.0, ge=0, description="a live day is re-materialized at most this often"
    )
    sensor_live_days: int = Field(default=2, ge=1, description="days tailed every sensor tick (today and yesterday)")
    sensor_sweep_keys: int = Field(default=5000, ge=0, description="keys the sensor's rotating sweep reads per tick")
    # Late parts for older days need no 30-s latency; re-listing a small lake every tick is most of its bill.
    sensor_sweep_minutes: float = Field(
        default=60.0, ge=0, description="a symbol's sweep pass starts at most this long after its last one finished"
    )
    sensor_skew_seconds: float = Field(
        default=60.0, ge=0, description="tolerated clock difference between the lake and Dagster"
    )
    max_rejected_ratio: float = Field(
        default=0.01, ge=0, description="r2_ticks fails above this share of rejected rows"
    )
    # Below this many rows a ratio says little (5 bad rows of 6 is a test fixture, not a broken feed).
    min_rows_for_rejected_ratio: int = Field(default=100, ge=0, description="days with fewer rows skip the ratio check")
    max_gap_buckets: int = Field(
        default=6, ge=0, description="longest run of missing 5-minute candles while the market is open"
    )
    freshness_minutes: float = Field(
        default=30.0, ge=0, description="newest candle (and raw part) age limit while the market is open"
    )
    watch_feed: bool = Field(default=True, description="the lake sensor reports a feed that stopped writing parts")
    retention_days: int = Field(default=90, ge=1, description="days of 5-minute candles kept in the database")
    late_data_days: int = Field(
        default=7, ge=0, description="days before yesterday the 02:00 schedule re-checks for late parts"
    )

    @classmethod
    def from_env(cls, **overrides) -> "TicklakeSettings":
        """TICKLAKE_* over the defaults, then `overrides`; a bad value is one line naming the variable."""
        fields = cls.model_fields
        values = {
            field: env_number(name, fields[field].default, kind, minimum=minimum)
            for name, (field, kind, minimum) in ENV_FIELDS.items()
        }
        return cls(**{**values, **overrides})
