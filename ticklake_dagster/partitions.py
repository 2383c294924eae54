"""Symbol x UTC-day partitions shared by every tick and candle asset."""

import datetime as dt

import dagster as dg

from ticklake_dagster.days import parse_day
from ticklake_dagster.settings import start_date
from ticklake_dagster.symbols import validate_symbol

SYMBOL_DIMENSION = "symbol"
DATE_DIMENSION = "date"

symbol_partitions_def = dg.DynamicPartitionsDefinition(name="symbol")
daily_partitions_def = dg.DailyPartitionsDefinition(start_date=start_date(), timezone="UTC", end_offset=1)
ticks_partitions_def = dg.MultiPartitionsDefinition(
    {SYMBOL_DIMENSION: symbol_partitions_def, DATE_DIMENSION: daily_partitions_def}
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
