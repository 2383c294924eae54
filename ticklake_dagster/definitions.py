"""Everything Dagster loads: assets and resources, the deployment picked by environment variables.

Local (nothing set): a file lake under $TICKLAKE_HOME/lake and an embedded PostgreSQL.
Production: TICKLAKE_LAKE_URL=s3://... with R2_* credentials, and DATABASE_URL for PostgreSQL/TimescaleDB.
"""

import dagster as dg

from ticklake_dagster.defs.assets import HIGHER_TIMEFRAME_SPECS, raw_ticks, ticks_and_candles
from ticklake_dagster.defs.assets.dukascopy import dukascopy_ticks
from ticklake_dagster.defs.assets.history import history_month
from ticklake_dagster.defs.assets.lake_stats import lake_stats
from ticklake_dagster.defs.resources import (
    AlertWebhookResource,
    DatabaseResource,
    DukascopyResource,
    IngesterResource,
    LakeResource,
    TicklakeSettings,
)
from ticklake_dagster.defs.retention import candle_retention_job
from ticklake_dagster.defs.schedules import (
    candle_retention_schedule,
    daily_candles_schedule,
    lake_stats_job,
    lake_stats_schedule,
)
from ticklake_dagster.defs.sensors import alert_sensor, lake_sensor


def build_resources() -> dict:
    lake = LakeResource.from_env()
    # The ingester composes the same lake resource: one configuration for `ticklake ingest` and Dagster.
    return {
        "lake": lake,
        "database": DatabaseResource.from_env(),
        "ingester": IngesterResource.from_env(lake=lake),
        "alert_webhook": AlertWebhookResource.from_env(),
        "dukascopy": DukascopyResource.from_env(),
        "settings": TicklakeSettings.from_env(),
    }


defs = dg.Definitions(
    assets=[raw_ticks, ticks_and_candles, *HIGHER_TIMEFRAME_SPECS, dukascopy_ticks, history_month, lake_stats],
    jobs=[candle_retention_job, lake_stats_job],
    schedules=[daily_candles_schedule, candle_retention_schedule, lake_stats_schedule],
    sensors=[lake_sensor, alert_sensor],
    resources=build_resources(),
    # A run's steps run one after another in the run's own process: r2_ticks + candles_5m is one step and a
    # history run is one step, so a process per step only added start-up time to every run (~10-20 s here).
    executor=dg.in_process_executor,
)
