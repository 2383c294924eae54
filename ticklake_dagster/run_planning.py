"""What sensors and schedules launch: the tick -> candle asset selection, run requests grouped like backfills."""

import datetime as dt
from collections import defaultdict

import dagster as dg
from dagster._core.events import DagsterEventType
from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG, PARTITION_NAME_TAG

from ticklake_dagster.assets import candles_5m, r2_ticks
from ticklake_dagster.assets.backfill import PARTITIONS_PER_RUN
from ticklake_dagster.days import parse_day
from ticklake_dagster.errors import InvalidInput
from ticklake_dagster.partitions import partition_key
from ticklake_dagster.settings import start_date
from ticklake_dagster.symbols import is_valid_symbol

# r2_ticks then every candle asset (candles_5m's step also writes the higher timeframes).
TICKS_TO_CANDLES = [r2_ticks.key, *candles_5m.keys]
ticks_to_candles_selection = dg.AssetSelection.assets(*TICKS_TO_CANDLES)
TRIGGER_TAG = "ticklake/trigger"

SymbolDay = tuple[str, dt.date]


def split_partition(key: str) -> SymbolDay | None:
    """(symbol, day) of a `2025-11-13|EURUSD` partition key (dimensions sorted by name), or None."""
    date_text, sep, symbol = key.partition("|")
    if not sep or not is_valid_symbol(symbol):
        return None
    try:
        return symbol, parse_day(date_text)
    except InvalidInput:
        return None


def partition_in_range(day: dt.date, today: dt.date) -> bool:
    """Whether the daily partition exists: from TICKLAKE_START_DATE up to today (end_offset=1)."""
    return parse_day(start_date()) <= day <= today


def run_requests_for(symbol_days: set[SymbolDay], tags: dict[str, str], run_key_prefix: str | None = None) -> list[dg.RunRequest]:
    """One run per single symbol-day; consecutive days of a symbol share a run, at most PARTITIONS_PER_RUN days.

    A range run is what the BackfillPolicy would produce (range tags, read by `context.partition_keys`).
    """
    by_symbol: dict[str, list[dt.date]] = defaultdict(list)
    for symbol, day in symbol_days:
        by_symbol[symbol].append(day)
    requests = []
    for symbol in sorted(by_symbol):
        days = sorted(set(by_symbol[symbol]))
        groups: list[list[dt.date]] = []
        for day in days:
            if groups and (day - groups[-1][-1]).days == 1 and len(groups[-1]) < PARTITIONS_PER_RUN:
                groups[-1].append(day)
            else:
                groups.append([day])
        for group in groups:
            first, last = partition_key(symbol, group[0]), partition_key(symbol, group[-1])
            run_key = f"{run_key_prefix}:{first}:{last}" if run_key_prefix else None
            if len(group) == 1:
                requests.append(dg.RunRequest(run_key=run_key, partition_key=first, asset_selection=TICKS_TO_CANDLES, tags=dict(tags)))
            else:
                requests.append(
                    dg.RunRequest(
                        run_key=run_key,
                        asset_selection=TICKS_TO_CANDLES,
                        tags={**tags, ASSET_PARTITION_RANGE_START_TAG: str(first), ASSET_PARTITION_RANGE_END_TAG: str(last)},
                    )
                )
    return requests


def request_partitions(request: dg.RunRequest) -> list[SymbolDay]:
    """The symbol-days a run request (or a run's tags) covers."""
    return tags_partitions(request.tags if request.partition_key is None else {PARTITION_NAME_TAG: request.partition_key})


def tags_partitions(tags: dict[str, str]) -> list[SymbolDay]:
    if PARTITION_NAME_TAG in tags:
        one = split_partition(tags[PARTITION_NAME_TAG])
        return [one] if one else []
    start, end = tags.get(ASSET_PARTITION_RANGE_START_TAG), tags.get(ASSET_PARTITION_RANGE_END_TAG)
    first, last = (split_partition(start) if start else None), (split_partition(end) if end else None)
    if not first or not last or last[1] < first[1]:
        return []
    # A multi-partition range is a rectangle: every symbol between the two ends, every day between them.
    symbols = {first[0], last[0]}
    days = [first[1] + dt.timedelta(days=i) for i in range((last[1] - first[1]).days + 1)]
    if first[0] != last[0]:
        symbols = {"*"}  # any symbol: treat the whole day range as pending
    return [(s, d) for s in symbols for d in days]


def pending_partitions(instance: dg.DagsterInstance, limit: int = 1000) -> set[SymbolDay]:
    """Symbol-days with a queued or running run of any origin; ("*", day) for runs spanning symbols."""
    out: set[SymbolDay] = set()
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=IN_PROGRESS_RUN_STATUSES), limit=limit):
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
    ids = storage.get_latest_storage_id_by_partition(r2_ticks.key, DagsterEventType.ASSET_MATERIALIZATION, partitions=set(keys))
    if not ids:
        return {}
    records = storage.get_event_records(
        dg.EventRecordsFilter(event_type=DagsterEventType.ASSET_MATERIALIZATION, asset_key=r2_ticks.key, storage_ids=list(ids.values()))
    )
    run_ids = {r.event_log_entry.run_id for r in records}
    started = {rec.dagster_run.run_id: rec.start_time for rec in instance.get_run_records(dg.RunsFilter(run_ids=list(run_ids)))}
    out = {}
    for r in records:
        key = r.partition_key
        if key is not None:
            out[key] = started.get(r.event_log_entry.run_id) or r.timestamp
    return out
