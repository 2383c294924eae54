"""Partitions: symbol x UTC day for the recent window, symbol x UTC month for history.

The one place partition keys are encoded and decoded, through Dagster's partition API.
"""

import datetime as dt
from collections.abc import Mapping

import dagster as dg

from ticklake_dagster.core.days import SymbolDay, parse_day
from ticklake_dagster.core.errors import InvalidInput
from ticklake_dagster.core.settings import history_start, start_date
from ticklake_dagster.core.symbols import is_valid_symbol, validate_symbol
from ticklake_dagster.defs.dagster_internals import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)

SYMBOL_DIMENSION = "symbol"
DATE_DIMENSION = "date"
MONTH_DIMENSION = "month"

symbol_partitions_def = dg.DynamicPartitionsDefinition(name="symbol")
daily_partitions_def = dg.DailyPartitionsDefinition(start_date=start_date(), timezone="UTC", end_offset=1)
ticks_partitions_def = dg.MultiPartitionsDefinition(
    {SYMBOL_DIMENSION: symbol_partitions_def, DATE_DIMENSION: daily_partitions_def}
)
monthly_partitions_def = dg.MonthlyPartitionsDefinition(start_date=history_start(), timezone="UTC", end_offset=1)
history_partitions_def = dg.MultiPartitionsDefinition(
    {SYMBOL_DIMENSION: symbol_partitions_def, MONTH_DIMENSION: monthly_partitions_def}
)


def partition_key(symbol: str, day: dt.date) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({SYMBOL_DIMENSION: validate_symbol(symbol), DATE_DIMENSION: day.isoformat()})


def split_partition(key: str) -> SymbolDay | None:
    """(symbol, day) of a daily partition key, or None when it is not one."""
    try:
        dims = ticks_partitions_def.get_partition_key_from_str(key).keys_by_dimension
    except Exception:  # Dagster raises its internal CheckError for a key with the wrong number of dimensions
        return None
    symbol = dims.get(SYMBOL_DIMENSION, "")
    if not is_valid_symbol(symbol):
        return None
    try:
        return symbol, parse_day(dims.get(DATE_DIMENSION, ""))
    except InvalidInput:
        return None


def range_tags(first: SymbolDay, last: SymbolDay) -> dict[str, str]:
    """The tags of a run over the partitions first..last, as a BackfillPolicy range run has them."""
    return {
        ASSET_PARTITION_RANGE_START_TAG: str(partition_key(*first)),
        ASSET_PARTITION_RANGE_END_TAG: str(partition_key(*last)),
    }


def tags_partitions(tags: Mapping[str, str]) -> list[SymbolDay]:
    """The symbol-days a run's tags cover; ("*", day) for a range spanning symbols (any symbol that day)."""
    if PARTITION_NAME_TAG in tags:
        one = split_partition(tags[PARTITION_NAME_TAG])
        return [one] if one else []
    start, end = tags.get(ASSET_PARTITION_RANGE_START_TAG), tags.get(ASSET_PARTITION_RANGE_END_TAG)
    first, last = (split_partition(start) if start else None), (split_partition(end) if end else None)
    if not first or not last or last[1] < first[1]:
        return []
    # A multi-partition range is a rectangle: every symbol between the two ends, every day between them.
    days = [first[1] + dt.timedelta(days=i) for i in range((last[1] - first[1]).days + 1)]
    symbols = {first[0]} if first[0] == last[0] else {"*"}
    return [(s, d) for s in symbols for d in days]


def request_partitions(request: dg.RunRequest) -> list[SymbolDay]:
    """The symbol-days a run request covers."""
    return tags_partitions(
        request.tags if request.partition_key is None else {PARTITION_NAME_TAG: request.partition_key}
    )


def run_partition_label(tags: Mapping[str, str]) -> str | None:
    """A run's partition, or `first...last` for a range run, as people read it in an alert."""
    if PARTITION_NAME_TAG in tags:
        return tags[PARTITION_NAME_TAG]
    if ASSET_PARTITION_RANGE_START_TAG in tags:
        return f"{tags[ASSET_PARTITION_RANGE_START_TAG]}...{tags.get(ASSET_PARTITION_RANGE_END_TAG)}"
    return None


def symbol_days(context: dg.AssetExecutionContext) -> list[tuple[str, dt.date]]:
    """Every (symbol, day) this run covers, whether it is one partition or a backfill range."""
    out = []
    for key in context.partition_keys:
        dims = ticks_partitions_def.get_partition_key_from_str(key).keys_by_dimension
        out.append((validate_symbol(dims[SYMBOL_DIMENSION]), parse_day(dims[DATE_DIMENSION])))
    return sorted(out)


def symbol_months(context: dg.AssetExecutionContext) -> list[tuple[str, dt.date]]:
    """Every (symbol, first day of the month) a history run covers."""
    out = []
    for key in context.partition_keys:
        dims = history_partitions_def.get_partition_key_from_str(key).keys_by_dimension
        out.append((validate_symbol(dims[SYMBOL_DIMENSION]), parse_day(dims[MONTH_DIMENSION])))
    return sorted(out)
