"""raw_ticks (the ingester's parts, external) -> r2_ticks: each symbol-day compacted into one validated Parquet file."""

import dagster as dg

from ticklake_dagster.asset_metadata import ticks_metadata
from ticklake_dagster.assets.backfill import ticks_backfill_policy
from ticklake_dagster.checks import (
    TICKS_SEVERITIES, read_compacted_table, summarize_all, ticks_check_specs, ticks_findings,
)
from ticklake_dagster.partitions import partition_key, symbol_days, ticks_partitions_def
from ticklake_dagster.pipeline import compact_day
from ticklake_dagster.resources import LakeResource, TicklakeSettings

# Written by the ingester (a separate service), not by Dagster: the lake sensor reports new parts on it.
raw_ticks = dg.AssetSpec(
    "raw_ticks",
    partitions_def=ticks_partitions_def,
    group_name="ticks",
    kinds={"parquet", "s3"},
    description="Raw tick parts under ticks/{SYMBOL}/{YYYY}/{MM}/{DD}/, written by the ingester.",
)


@dg.asset(
    partitions_def=ticks_partitions_def,
    backfill_policy=ticks_backfill_policy,
    deps=[raw_ticks],
    group_name="ticks",
    kinds={"parquet", "s3"},
    check_specs=ticks_check_specs("r2_ticks"),
)
def r2_ticks(context: dg.AssetExecutionContext, lake: LakeResource, settings: TicklakeSettings) -> dg.MaterializeResult:
    """The day's raw tick parts compacted into ticks_daily/symbol=/date=/ticks.parquet."""
    store = lake.get_lake()
    results, findings = [], {}
    for symbol, day in symbol_days(context):
        result = compact_day(store, symbol, day)
        meta = result.metadata()
        context.log.info(
            f"{symbol} {day}: {result.parts} parts, {meta['ticks_kept']} ticks kept, "
            f"{result.clean.rejected_total} rejected, {result.clean.duplicates} duplicates -> {result.key}"
        )
        results.append(result)
        # Read back what readers will see, not the frame we meant to write.
        written = read_compacted_table(store.get(result.key)) if store.exists(result.key) else None
        findings[str(partition_key(symbol, day))] = ticks_findings(written, day, result.clean.rows_read, result.clean.rejected_total, settings)
    checks = summarize_all("r2_ticks", findings, TICKS_SEVERITIES)
    return dg.MaterializeResult(metadata=ticks_metadata(results), check_results=checks)
