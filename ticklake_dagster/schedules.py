"""Schedules: the 02:00 UTC daily candles run with late-data catch-up, and the nightly candle retention."""

import dataclasses
import datetime as dt
from collections import defaultdict

import dagster as dg

from ticklake_dagster.run_planning import (
    TRIGGER_TAG, SymbolDay, last_materialized_at, partition_in_range, run_requests_for, ticks_to_candles_selection,
)
from ticklake_dagster.lake import Lake
from ticklake_dagster.lake_keys import parse_raw_part_key, raw_symbol_prefix
from ticklake_dagster.partitions import partition_key, symbol_partitions_def
from ticklake_dagster.resources import LakeResource
from ticklake_dagster.retention import candle_retention_job
from ticklake_dagster.settings import env_number

DEFAULT_LOOKBACK_DAYS = 7
MTIME_RESOLUTION_SECONDS = 1.0  # S3 LastModified has whole seconds


@dataclasses.dataclass
class DailyPlan:
    run_requests: list[dg.RunRequest]
    yesterday: list[SymbolDay]
    late: list[SymbolDay]
    log: list[str]


def day_parts(lake: Lake, symbol: str, first: dt.date, last: dt.date) -> dict[dt.date, tuple[int, float]]:
    """(part count, newest mtime) per day in [first, last], listing only the months that overlap it."""
    stats: dict[dt.date, tuple[int, float]] = {}
    month = first.replace(day=1)
    while month <= last:
        for obj in lake.list(f"{raw_symbol_prefix(symbol)}{month:%Y/%m}/"):
            parsed = parse_raw_part_key(obj.key)
            if parsed and first <= parsed[1] <= last:
                n, newest = stats.get(parsed[1], (0, 0.0))
                stats[parsed[1]] = (n + 1, max(newest, obj.last_modified))
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return stats


def plan_daily(lake: Lake, instance: dg.DagsterInstance, when: dt.datetime, lookback_days: int, tags: dict[str, str]) -> DailyPlan:
    """Yesterday for every known symbol that has parts, plus earlier days whose parts changed after their last run."""
    today = when.astimezone(dt.timezone.utc).date()
    yesterday = today - dt.timedelta(days=1)
    first = yesterday - dt.timedelta(days=lookback_days)
    symbols = sorted(instance.get_dynamic_partitions(symbol_partitions_def.name))
    log, wanted_yesterday, candidates = [], [], {}
    for symbol in symbols:
        stats = day_parts(lake, symbol, first, yesterday)
        if not partition_in_range(yesterday, today):
            log.append(f"skip {symbol} {yesterday}: before TICKLAKE_START_DATE")
        elif yesterday in stats:
            wanted_yesterday.append((symbol, yesterday))
        else:
            log.append(f"skip {symbol} {yesterday}: no raw parts (market closed or feed down)")
        for day, (_, newest) in stats.items():
            if day < yesterday and partition_in_range(day, today):
                candidates[str(partition_key(symbol, day))] = ((symbol, day), newest)
    last_run = last_materialized_at(instance, set(candidates))
    late = []
    for key, (symbol_day, newest) in sorted(candidates.items()):
        started = last_run.get(key)
        if started is None:
            late.append(symbol_day)
            log.append(f"late data: {symbol_day[0]} {symbol_day[1]} has parts but was never materialized")
        elif newest > started - MTIME_RESOLUTION_SECONDS:
            late.append(symbol_day)
            log.append(f"late data: {symbol_day[0]} {symbol_day[1]} got parts after its last run")
    prefix = f"daily:{today}"
    requests = run_requests_for(set(wanted_yesterday), tags, run_key_prefix=prefix)
    requests += run_requests_for(set(late), {**tags, "ticklake/late_data": "true"}, run_key_prefix=f"{prefix}:late")
    return DailyPlan(requests, wanted_yesterday, late, log)


def build_daily_schedule(name: str = "daily_candles_schedule", hour: int = 2, lookback_days: int | None = None) -> dg.ScheduleDefinition:
    """Triggers r2_ticks + candles_5m for yesterday (every symbol with parts) and late-data days, at `hour`:00 UTC."""

    @dg.schedule(
        name=name,
        cron_schedule=f"0 {hour} * * *",
        execution_timezone="UTC",
        target=ticks_to_candles_selection,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Yesterday for every symbol, plus any earlier day whose parts changed after its last run.",
    )
    def _daily_schedule(context: dg.ScheduleEvaluationContext, lake: LakeResource):
        lookback = lookback_days if lookback_days is not None else env_number("TICKLAKE_LATE_DATA_DAYS", DEFAULT_LOOKBACK_DAYS, int)
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
