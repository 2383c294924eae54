"""The deployment's thresholds by field name, read through the registry: plain, so the CLI needs no Dagster.

`TicklakeSettings` (defs/resources) is these values as a resource the Dagster UI shows.
"""

from typing import Any

from ticklake_dagster.core.settings import get

# Environment variable -> field: every threshold can be set without code. Kinds, defaults and bounds are
# the registry's (core/settings.py).
ENV_FIELDS = {
    "TICKLAKE_SENSOR_REFRESH_SECONDS": "sensor_refresh_seconds",
    "TICKLAKE_SENSOR_LIVE_DAYS": "sensor_live_days",
    "TICKLAKE_SENSOR_SWEEP_KEYS": "sensor_sweep_keys",
    "TICKLAKE_SENSOR_SWEEP_MINUTES": "sensor_sweep_minutes",
    "TICKLAKE_MAX_REJECTED_RATIO": "max_rejected_ratio",
    "TICKLAKE_MIN_ROWS_FOR_REJECTED_RATIO": "min_rows_for_rejected_ratio",
    "TICKLAKE_MAX_GAP_BUCKETS": "max_gap_buckets",
    "TICKLAKE_FRESHNESS_MINUTES": "freshness_minutes",
    "TICKLAKE_RETENTION_DAYS": "retention_days",
    "TICKLAKE_LATE_DATA_DAYS": "late_data_days",
}


def thresholds_from_env() -> dict[str, Any]:
    """TICKLAKE_* over the registry's defaults, by field; a bad value is one line naming the variable."""
    return {field: get(name) for name, field in ENV_FIELDS.items()}
