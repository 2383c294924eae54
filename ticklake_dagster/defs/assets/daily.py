"""The daily step: r2_ticks and candles_5m for a run's symbol-days, and what "done" means for each day.

One step writes both assets, so Dagster records every partition of each by its own verdict, in ranged
backfill runs too (two steps could not: a ranged run's output marks every day of its range, and a step
that yields no output skips the next one):
- a day with ticks: both materialized;
- a day its market was closed all day (an FX Saturday, a configured holiday): both materialized with
  `market: closed` and `ticks: 0`, so a backfill over weeks ends Success;
- a day its market was open but the lake holds no ticks: a hole. The step records every other day, then
  fails naming the holes, and Dagster marks exactly those partitions FAILED (a failed run's planned
  partitions that got no materialization), on the partition page and in the backfill's status;
- a day whose market has not opened yet (today before Sunday's open): an observation `no_data`, neither.

The session table (core/sessions.py) decides which days were open.
"""

import datetime as dt

import dagster as dg
import pandas as pd

from ticklake_dagster.candles.building import build_candles
from ticklake_dagster.core.sessions import CLOSED_DAY_METADATA, day_kind, hole_reason
from ticklake_dagster.defs.assets.backfill import ticks_backfill_policy
from ticklake_dagster.defs.assets.candles import CANDLES_5M, CANDLES_5M_SPEC, CandleDay, utc_now, write_candle_days
from ticklake_dagster.defs.assets.ticks import R2_TICKS, R2_TICKS_SPEC, compact_with_findings, ticks_materialization
from ticklake_dagster.defs.checks import (
    CANDLES_SEVERITIES,
    TICKS_SEVERITIES,
    candles_check_specs,
    selected_results,
    summarize_all,
    ticks_check_specs,
)
from ticklake_dagster.defs.partitions import partition_key, symbol_days, ticks_partitions_def
from ticklake_dagster.defs.resources import DatabaseResource, LakeResource, TicklakeSettings
from ticklake_dagster.defs.run_log import BatchedLog
from ticklake_dagster.lake.storage import Lake
from ticklake_dagster.ticks.compaction import CompactedDay, list_parts, load_compacted

MAX_LISTED = 20


def day_ticks(
    store: Lake, symbol: str, day: dt.date, settings: TicklakeSettings, log: BatchedLog, compact: bool
) -> tuple[pd.DataFrame, CompactedDay | None, dict[str, str | None] | None]:
    """The day's ticks: compacted now when r2_ticks is selected or the day has raw parts but no compacted file."""
    if not compact:
        ticks = load_compacted(store, symbol, day)
        if len(ticks) or not list_parts(store, symbol, day):
            return ticks, None, None
    result, findings = compact_with_findings(store, symbol, day, settings, log)
    return result.ticks, result, findings


def holes_message(holes: list[tuple[str, dt.date]]) -> str:
    shown = "; ".join(hole_reason(symbol, day) for symbol, day in holes[:MAX_LISTED])
    more = f"; and {len(holes) - MAX_LISTED} more" if len(holes) > MAX_LISTED else ""
    return f"{shown}{more}. Restore or import the day's ticks, then materialize it again."


@dg.multi_asset(
    name="ticks_and_candles",
    specs=[R2_TICKS_SPEC, CANDLES_5M_SPEC],
    partitions_def=ticks_partitions_def,
    backfill_policy=ticks_backfill_policy,
    pool="ticklake_database",
    check_specs=[*ticks_check_specs(R2_TICKS), *candles_check_specs(CANDLES_5M)],
    can_subset=True,  # r2_ticks alone, candles_5m alone, or both; a run may also yield no check results
)
def ticks_and_candles(
    context: dg.AssetExecutionContext, lake: LakeResource, database: DatabaseResource, settings: TicklakeSettings
):
    """Compact each symbol-day's raw parts (r2_ticks), build and upsert its 5-minute candles (candles_5m)."""
    store = lake.get_lake()
    selected = context.selected_asset_keys
    now_ms = int(utc_now().timestamp() * 1000)
    candle_days: list[CandleDay] = []
    ticks_found: dict[str, dict[str, str | None]] = {}
    holes: list[tuple[str, dt.date]] = []
    with BatchedLog(context.log.info) as log:
        for symbol, day in symbol_days(context):
            ticks, compacted, findings = day_ticks(store, symbol, day, settings, log, compact=R2_TICKS in selected)
            key = str(partition_key(symbol, day))
            kind = day_kind(symbol, day, len(ticks), now_ms)
            extra = CLOSED_DAY_METADATA if kind == "closed" else {}
            if findings is not None:
                ticks_found[key] = findings
            done = kind in ("ticks", "closed")
            if done:
                if compacted is not None:
                    context.log_event(ticks_materialization(compacted, extra))
            elif kind == "hole":
                holes.append((symbol, day))
            else:
                for asset_key in selected:
                    context.log_event(
                        dg.AssetObservation(asset_key=asset_key, partition=key, metadata={"no_data": True})
                    )
            if CANDLES_5M in selected:
                candle_days.append(CandleDay(symbol, day, build_candles(ticks), len(ticks), done, extra))
    if ticks_found:
        yield from selected_results(context, summarize_all(R2_TICKS, ticks_found, TICKS_SEVERITIES))
    if any(any(f.values()) for f in ticks_found.values()):
        context.log.error("candles_5m not written: an r2_ticks check failed (blocking)")
        return
    if candle_days:
        candles_found = write_candle_days(context, database, settings, candle_days)
        if candles_found:
            yield from selected_results(context, summarize_all(CANDLES_5M, candles_found, CANDLES_SEVERITIES))
    if holes:
        raise dg.Failure(
            description=holes_message(holes),
            metadata={"holes": ", ".join(str(partition_key(s, d)) for s, d in holes[:MAX_LISTED])},
        )
