"""history_ticks + history_candles: symbol x month partitions for decades of history, one step per run.

The same lake files (ticks_daily/) and candle tables as the daily assets, written through the same
functions, for the days before TICKLAKE_START_DATE only (see ticklake_dagster.candles.history_path for the rule).
A month is recorded as materialized only when it holds data: a ranged run logs one materialization
per month with data and an observation `no_data` for the others, instead of letting Dagster mark the
whole range as materialized.
"""

import datetime as dt

import dagster as dg

from ticklake_dagster.candles.history_path import MonthResult, compact_month, write_month
from ticklake_dagster.candles.sql import EMPTY_CANDLES
from ticklake_dagster.core.days import parse_day
from ticklake_dagster.core.settings import start_date
from ticklake_dagster.defs.assets.candles import HISTORY_CANDLES
from ticklake_dagster.defs.assets.dukascopy import HISTORY_PARTITIONS_PER_RUN
from ticklake_dagster.defs.checks import (
    CANDLES_CHECKS,
    CANDLES_OHLC_CHECK,
    CANDLES_TRADES_CHECK,
    CANDLES_UNIQUE_CHECK,
    ERROR,
    TICKS_SEVERITIES,
    candles_findings,
    read_compacted_table,
    selected_results,
    summarize_all,
    ticks_check_specs,
    ticks_findings,
)
from ticklake_dagster.defs.partitions import MONTH_DIMENSION, SYMBOL_DIMENSION, history_partitions_def, symbol_months
from ticklake_dagster.defs.resources import DatabaseResource, LakeResource, TicklakeSettings

HISTORY_TICKS = dg.AssetKey("history_ticks")
# The import asset (raw parts from a Dukascopy mirror) shares these partitions; any writer of raw parts works.
HISTORY_SOURCE = dg.AssetKey("dukascopy_ticks")

# The import's run size (a year of one symbol), so a backfill of both assets groups their months alike;
# a run holds one day's ticks at a time.
history_backfill_policy = dg.BackfillPolicy.multi_run(max_partitions_per_run=HISTORY_PARTITIONS_PER_RUN)

# Gaps and freshness judge a live feed; history has holidays and thin years, so only the ERROR rules run.
HISTORY_CANDLES_SEVERITIES = {name: ERROR for name in (CANDLES_OHLC_CHECK, CANDLES_UNIQUE_CHECK, CANDLES_TRADES_CHECK)}

HISTORY_SPECS = [
    dg.AssetSpec(
        HISTORY_TICKS,
        deps=[HISTORY_SOURCE],
        group_name="history",
        kinds={"parquet", "s3"},
        skippable=True,
        description=(
            "Each day of the symbol-month before TICKLAKE_START_DATE compacted into ticks_daily/ (as r2_ticks does)."
        ),
    ),
    dg.AssetSpec(
        HISTORY_CANDLES,
        deps=[HISTORY_TICKS],
        group_name="history",
        kinds={"postgres"},
        skippable=True,
        description="The month's candles: higher timeframes always, 5-minute rows only inside TICKLAKE_RETENTION_DAYS.",
    ),
]


def history_partition_key(symbol: str, month: dt.date) -> str:
    return str(dg.MultiPartitionKey({SYMBOL_DIMENSION: symbol, MONTH_DIMENSION: month.isoformat()}))


def month_ticks_findings(result: MonthResult, lake, settings: TicklakeSettings) -> dict[str, str | None]:
    """The r2_ticks rules on every compacted day of the month, folded into one finding per check."""
    out: dict[str, str | None] = dict.fromkeys(TICKS_SEVERITIES)
    for day in result.days:
        if not day.parts:
            continue
        written = read_compacted_table(lake.get(day.key)) if lake.exists(day.key) else None
        for name, why in ticks_findings(
            written, day.day, day.clean.rows_read, day.clean.rejected_total, settings
        ).items():
            if why and not out[name]:
                out[name] = f"{day.day}: {why}"
    return out


def month_candles_findings(result: MonthResult, now: dt.datetime, settings: TicklakeSettings) -> dict[str, str | None]:
    out: dict[str, str | None] = dict.fromkeys(HISTORY_CANDLES_SEVERITIES)
    stored = result.stored or {}
    for day in result.days:
        if not len(day.ticks):
            continue
        rows = stored.get(day.day, EMPTY_CANDLES)
        found = candles_findings(rows, result.symbol, day.day, len(day.ticks), now, settings)
        for name in out:
            if found[name] and not out[name]:
                out[name] = f"{day.day}: {found[name]}"
    return out


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dg.multi_asset(
    name="history_month",
    specs=HISTORY_SPECS,
    partitions_def=history_partitions_def,
    backfill_policy=history_backfill_policy,
    pool="ticklake_database",
    can_subset=True,  # so a run of months without data may yield no check results
    check_specs=[
        *ticks_check_specs(HISTORY_TICKS),
        *(
            dg.AssetCheckSpec(name, asset=HISTORY_CANDLES, description=CANDLES_CHECKS[name][0], blocking=True)
            for name in HISTORY_CANDLES_SEVERITIES
        ),
    ],
)
def history_month(
    context: dg.AssetExecutionContext, lake: LakeResource, database: DatabaseResource, settings: TicklakeSettings
):
    """Compact and write each symbol-month of the run, one day in memory at a time."""
    store = lake.get_lake()
    flavor = database.ensure_schema()
    daily_start, keep_days, now = parse_day(start_date()), settings.retention_days, utc_now()
    ticks_found: dict[str, dict | None] = {}  # None: a month without data, nothing checked
    candles_found: dict[str, dict] = {}
    for symbol, month in symbol_months(context):
        key = history_partition_key(symbol, month)
        result = compact_month(store, symbol, month, daily_start)
        ticks_found[key] = findings = month_ticks_findings(result, store, settings) if result.data_days else None
        if findings and any(findings.values()):
            context.log.error(f"{symbol} {month:%Y-%m}: tick checks failed, candles not written")
            continue
        with database.connect() as conn:
            result = write_month(conn, flavor, result, keep_days, now)
        meta = result.metadata()
        context.log.info(
            f"{symbol} {month:%Y-%m}: {meta['days_with_data']} days with data, {meta['days_without_data']} without, "
            f"{meta['days_left_to_daily_path']} left to the daily path; {meta['ticks_kept']} ticks, "
            f"{meta['candles_5m_built']} 5-minute candles ({meta['candles_5m_kept']} kept)"
        )
        if not result.data_days:
            for asset_key in context.selected_asset_keys:
                context.log_event(
                    dg.AssetObservation(asset_key=asset_key, partition=key, metadata={"no_data": True, **meta})
                )
            continue
        candles_found[key] = month_candles_findings(result, now, settings)
        for asset_key in context.selected_asset_keys:  # one step writes both; a subset records what was asked
            context.log_event(dg.AssetMaterialization(asset_key=asset_key, partition=key, metadata=meta))
    ticks_checked = {k: v for k, v in ticks_found.items() if v is not None}
    if ticks_checked:
        yield from selected_results(context, summarize_all(HISTORY_TICKS, ticks_checked, TICKS_SEVERITIES))
    if candles_found:
        yield from selected_results(context, summarize_all(HISTORY_CANDLES, candles_found, HISTORY_CANDLES_SEVERITIES))
