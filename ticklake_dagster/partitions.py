"""Partitions: symbol x UTC day for the recent window, symbol x UTC month for history."""

import datetime as dt

import dagster as dg

from ticklake_dagster.days import parse_day
from ticklake_dagster.settings import history_start, start_date
from ticklake_dagster.symbols import validate_symbol

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
