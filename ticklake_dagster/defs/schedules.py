"""Schedules: the 02:00 UTC daily candles run with late-data catch-up, and the nightly candle retention."""

import datetime as dt

import dagster as dg

from ticklake_dagster.defs.assets.lake_stats import lake_stats
from ticklake_dagster.defs.resources import LakeResource, TicklakeSettings
from ticklake_dagster.defs.retention import candle_retention_job
from ticklake_dagster.defs.run_planning import TRIGGER_TAG, plan_daily, ticks_to_candles_selection


def build_daily_schedule(
    name: str = "daily_candles_schedule", hour: int = 2, lookback_days: int | None = None
) -> dg.ScheduleDefinition:
    """Triggers r2_ticks + candles_5m for yesterday (every symbol with parts) and late-data days, at `hour`:00 UTC."""

    @dg.schedule(
        name=name,
        cron_schedule=f"0 {hour} * * *",
        execution_timezone="UTC",
        target=ticks_to_candles_selection,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Yesterday for every symbol, plus any earlier day whose parts changed after its last run.",
    )
    def _daily_schedule(context: dg.ScheduleEvaluationContext, lake: LakeResource, settings: TicklakeSettings):
        lookback = lookback_days if lookback_days is not None else settings.late_data_days
        when = context.scheduled_execution_time or dt.datetime.now(dt.timezone.utc)
        plan = plan_daily(lake.get_lake(), context.instance, when, lookback, {TRIGGER_TAG: name})
        for line in plan.log:
            context.log.info(line)
        if not plan.run_requests:
            return dg.SkipReason(f"nothing to materialize: {len(plan.log)} symbol-days skipped")
        return plan.run_requests

    return _daily_schedule


daily_candles_schedule = build_daily_schedule()

candle_retention_schedule = dg.ScheduleDefinition(
    name="candle_retention_schedule",
    job=candle_retention_job,
    cron_schedule="30 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Drops 5-minute candles older than TICKLAKE_RETENTION_DAYS (default 90); the lake is untouched.",
)


lake_stats_job = dg.define_asset_job(
    "lake_stats_job", selection=[lake_stats], description="Recompute the lake's coverage, size and monthly bill."
)

lake_stats_schedule = dg.ScheduleDefinition(
    name="lake_stats_schedule",
    job=lake_stats_job,
    cron_schedule="0 4 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily at 04:00 UTC, after the 02:00 candles run and the 03:30 retention.",
)
