"""raw_ticks (the ingester's parts, external) -> r2_ticks: each symbol-day compacted into one validated Parquet file."""

import dagster as dg

from ticklake_dagster.defs.assets.backfill import ticks_backfill_policy
from ticklake_dagster.defs.checks import (
    TICKS_SEVERITIES,
    read_compacted_table,
    selected_results,
    summarize_all,
    ticks_check_specs,
    ticks_findings,
)
from ticklake_dagster.defs.metadata import ticks_metadata
from ticklake_dagster.defs.partitions import partition_key, symbol_days, ticks_partitions_def
from ticklake_dagster.defs.resources import LakeResource, TicklakeSettings
from ticklake_dagster.defs.run_log import BatchedLog
from ticklake_dagster.ticks.compaction import compact_day

# Written by the ingester (a separate service), not by Dagster: the lake sensor reports new parts on it.
raw_ticks = dg.AssetSpec(
    "raw_ticks",
    partitions_def=ticks_partitions_def,
    group_name="ticks",
    kinds={"parquet", "s3"},
    description="Raw tick parts under ticks/{SYMBOL}/{YYYY}/{MM}/{DD}/, written by the ingester.",
)
MAX_LISTED = 50


R2_TICKS_SPEC = dg.AssetSpec(
    "r2_ticks",
    deps=[raw_ticks],
    group_name="ticks",
    kinds={"parquet", "s3"},
    skippable=True,
    description="The day's raw tick parts compacted into ticks_daily/symbol=/date=/ticks.parquet.",
)


# can_subset: Dagster then lets the step skip its check results too (a run of days without parts checks nothing).
@dg.multi_asset(
    name="r2_ticks",
    specs=[R2_TICKS_SPEC],
    partitions_def=ticks_partitions_def,
    backfill_policy=ticks_backfill_policy,
    check_specs=ticks_check_specs("r2_ticks"),
    can_subset=True,
)
def r2_ticks(context: dg.AssetExecutionContext, lake: LakeResource, settings: TicklakeSettings):
    """The day's raw tick parts compacted into ticks_daily/symbol=/date=/ticks.parquet.

    A run whose days have no parts at all records no materialization (an observation `no_data` per day,
    for candles_5m too, whose step is then skipped). In a run that mixes both, the output feeds
    candles_5m in the same run, so Dagster records every day; the empty ones are listed in the metadata.
    """
    store = lake.get_lake()
    results, findings = [], {}
    with BatchedLog(context.log.info) as log:
        for symbol, day in symbol_days(context):
            result = compact_day(store, symbol, day)
            log.add(
                f"{symbol} {day}: {result.parts} parts, {len(result.ticks)} ticks kept, "
                f"{result.clean.rejected_total} rejected, {result.clean.duplicates} duplicates -> {result.key}"
            )
            results.append(result.released())
            if not result.parts:
                continue
            # Read back what readers will see, not the frame we meant to write.
            written = read_compacted_table(store.get(result.key)) if store.exists(result.key) else None
            findings[str(partition_key(symbol, day))] = ticks_findings(
                written, day, result.clean.rows_read, result.clean.rejected_total, settings
            )
    empty = [str(partition_key(r.symbol, r.day)) for r in results if not r.parts]
    if not findings:
        for key in empty:
            for asset_key in ("r2_ticks", "candles_5m"):
                context.log_event(
                    dg.AssetObservation(asset_key=asset_key, partition=key, metadata={"no_data": True, "parts_read": 0})
                )
        return
    checks = selected_results(context, summarize_all("r2_ticks", findings, TICKS_SEVERITIES))
    metadata = ticks_metadata(results)
    if empty and len(results) > 1:
        metadata["no_data_partitions"] = ", ".join(empty[:MAX_LISTED])
    yield dg.MaterializeResult(asset_key="r2_ticks", metadata=metadata, check_results=checks)
