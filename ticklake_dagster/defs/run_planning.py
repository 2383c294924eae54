"""Which partitions run, in how many runs: the lake sensor's and the daily schedule's plans.

Both end in `run_requests_for`, which groups consecutive days of a symbol into one run the way a
backfill would; both skip symbol-days outside the partition range.
"""

import dataclasses
import datetime as dt
from collections import defaultdict

import dagster as dg

from ticklake_dagster.core.days import day_runs, parse_day
from ticklake_dagster.core.sessions import trades_on
from ticklake_dagster.core.settings import start_date
from ticklake_dagster.defs.assets import CANDLES_5M, R2_TICKS
from ticklake_dagster.defs.assets.backfill import PARTITIONS_PER_RUN
from ticklake_dagster.defs.partitions import (
    SymbolDay,
    partition_key,
    range_tags,
    split_partition,
    symbol_partitions_def,
    tags_partitions,
)
from ticklake_dagster.defs.resources.deployment_settings import TicklakeSettings
from ticklake_dagster.lake.keys import parse_raw_part_key, raw_symbol_prefix
from ticklake_dagster.lake.scan import LakeCursor, LakeScan
from ticklake_dagster.lake.storage import Lake

# r2_ticks and candles_5m (one step, which also writes the higher timeframes).
TICKS_TO_CANDLES = [R2_TICKS, CANDLES_5M]
ticks_to_candles_selection = dg.AssetSelection.assets(*TICKS_TO_CANDLES)
TRIGGER_TAG = "ticklake/trigger"
# The live window's runs go before queued backfill runs (run queue) and their steps before backfill steps
# waiting for a pool slot; dagster.yaml keeps a run slot free of backfills for them.
LIVE_RUN_TAGS = {"dagster/priority": "10"}

# Queued, starting, running or suspended: a run that may still write these partitions.
IN_PROGRESS_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
    dg.DagsterRunStatus.SUSPENDED,
]


def partition_in_range(day: dt.date, today: dt.date) -> bool:
    """Whether the daily partition exists: from TICKLAKE_START_DATE up to today (end_offset=1)."""
    return parse_day(start_date()) <= day <= today


def run_requests_for(
    symbol_days: set[SymbolDay], tags: dict[str, str], run_key_prefix: str | None = None
) -> list[dg.RunRequest]:
    """One run per single symbol-day; consecutive days of a symbol share a run, at most PARTITIONS_PER_RUN days.

    A range run is what the BackfillPolicy would produce (range tags, read by `context.partition_keys`).
    """
    tags = {**LIVE_RUN_TAGS, **tags}
    by_symbol: dict[str, list[dt.date]] = defaultdict(list)
    for symbol, day in symbol_days:
        by_symbol[symbol].append(day)
    requests = []
    for symbol in sorted(by_symbol):
        for first_day, last_day in day_runs(sorted(set(by_symbol[symbol])), PARTITIONS_PER_RUN):
            first, last = partition_key(symbol, first_day), partition_key(symbol, last_day)
            run_key = f"{run_key_prefix}:{first}:{last}" if run_key_prefix else None
            if first_day == last_day:
                requests.append(
                    dg.RunRequest(
                        run_key=run_key, partition_key=first, asset_selection=TICKS_TO_CANDLES, tags=dict(tags)
                    )
                )
            else:
                requests.append(
                    dg.RunRequest(
                        run_key=run_key,
                        asset_selection=TICKS_TO_CANDLES,
                        tags={**tags, **range_tags((symbol, first_day), (symbol, last_day))},
                    )
                )
    return requests


def pending_partitions(instance: dg.DagsterInstance, limit: int = 1000) -> set[SymbolDay]:
    """Symbol-days with a queued or running run of any origin; ("*", day) for runs spanning symbols."""
    out: set[SymbolDay] = set()
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=IN_PROGRESS_STATUSES), limit=limit):
        out.update(tags_partitions(run.tags))
    return out


def is_pending(symbol_day: SymbolDay, pending: set[SymbolDay]) -> bool:
    return symbol_day in pending or ("*", symbol_day[1]) in pending


def last_materialized_at(instance: dg.DagsterInstance, keys: set[str]) -> dict[str, float]:
    """When the run behind each partition's latest r2_ticks materialization started (it listed parts after that).

    Partitions never materialized are absent.
    """
    if not keys:
        return {}
    storage = instance.event_log_storage
    ids = storage.get_latest_storage_id_by_partition(
        R2_TICKS, dg.DagsterEventType.ASSET_MATERIALIZATION, partitions=set(keys)
    )
    if not ids:
        return {}
    records = storage.get_event_records(
        dg.EventRecordsFilter(
            event_type=dg.DagsterEventType.ASSET_MATERIALIZATION, asset_key=R2_TICKS, storage_ids=list(ids.values())
        )
    )
    run_ids = {r.event_log_entry.run_id for r in records}
    started = {
        rec.dagster_run.run_id: rec.start_time for rec in instance.get_run_records(dg.RunsFilter(run_ids=list(run_ids)))
    }
    out = {}
    for r in records:
        key = r.partition_key
        if key is not None:
            out[key] = started.get(r.event_log_entry.run_id) or r.timestamp
    return out


# --- the lake sensor --------------------------------------------------------------------------------


@dataclasses.dataclass
class LakePlan:
    run_requests: list[dg.RunRequest]
    requested: list[SymbolDay]
    deferred: list[SymbolDay]
    reported: list[SymbolDay]
    skipped_out_of_range: list[SymbolDay]


def plan_runs(
    cursor: LakeCursor,
    scan: LakeScan,
    now: float,
    pending: set[SymbolDay],
    settings: TicklakeSettings,
    tags: dict[str, str],
) -> LakePlan:
    """Turn newly seen parts into run requests: once per refresh interval, never beside a pending run."""
    today = dt.datetime.fromtimestamp(now, dt.timezone.utc).date()
    reported, out_of_range = [], []
    for (symbol, day), mtime in scan.new_parts.items():
        if not partition_in_range(day, today):
            out_of_range.append((symbol, day))
            continue
        key = str(partition_key(symbol, day))
        asked_at, newest_then = cursor.requested.get(key, (0.0, 0.0))
        if asked_at > mtime + settings.sensor_skew_seconds:
            continue  # a run requested after this part was written has read it already
        if (symbol, day) in scan.swept_only and mtime <= newest_then:
            continue  # the sweep's skew margin re-found parts that an earlier request already covered
        cursor.dirty[key] = max(cursor.dirty.get(key, 0.0), mtime)
        reported.append((symbol, day))
    to_request, deferred = set(), []
    for key in sorted(cursor.dirty):
        symbol_day = split_partition(key)
        if symbol_day is None or not partition_in_range(symbol_day[1], today):
            cursor.dirty.pop(key)
            continue
        if (
            is_pending(symbol_day, pending)
            or now - cursor.requested.get(key, (-1e18,))[0] < settings.sensor_refresh_seconds
        ):
            deferred.append(symbol_day)
            continue
        to_request.add(symbol_day)
        cursor.requested[key] = [now, max(cursor.dirty.pop(key), cursor.requested.get(key, (0.0, 0.0))[1])]
    horizon = now - max(settings.sensor_refresh_seconds, 86_400.0)
    cursor.requested = {k: v for k, v in cursor.requested.items() if v[0] >= horizon}
    return LakePlan(
        run_requests_for(to_request, tags), sorted(to_request), deferred, sorted(reported), sorted(out_of_range)
    )


# --- the daily schedule -----------------------------------------------------------------------------

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


def plan_daily(
    lake: Lake, instance: dg.DagsterInstance, when: dt.datetime, lookback_days: int, tags: dict[str, str]
) -> DailyPlan:
    """Yesterday for every active symbol, plus earlier days whose parts changed after their last run.

    Yesterday is requested with or without parts: a closed market's day is then recorded as closed, and an
    open market's day without ticks is a hole whose run fails (and the alert sensor pages it). A symbol
    without any part in the lookback window is retired, not a hole every day.
    """
    today = when.astimezone(dt.timezone.utc).date()
    yesterday = today - dt.timedelta(days=1)
    first = yesterday - dt.timedelta(days=lookback_days)
    assert symbol_partitions_def.name is not None  # a named dynamic partitions definition
    symbols = sorted(instance.get_dynamic_partitions(symbol_partitions_def.name))
    log, wanted_yesterday, candidates = [], [], {}
    for symbol in symbols:
        stats = day_parts(lake, symbol, first, yesterday)
        if not partition_in_range(yesterday, today):
            log.append(f"skip {symbol} {yesterday}: before TICKLAKE_START_DATE")
        elif not stats:
            log.append(f"skip {symbol} {yesterday}: no raw parts since {first} (retired symbol)")
        else:
            wanted_yesterday.append((symbol, yesterday))
            if yesterday not in stats:
                state = "market open: a hole, its run fails" if trades_on(symbol, yesterday) else "market closed"
                log.append(f"{symbol} {yesterday}: no raw parts ({state})")
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
