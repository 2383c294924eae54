"""r2_ticks: each symbol-day's raw parts compacted into one validated, deduplicated, sorted Parquet file."""

import dagster as dg

from ticklake_dagster.assets.backfill import ticks_backfill_policy
from ticklake_dagster.partitions import symbol_days, ticks_partitions_def
from ticklake_dagster.pipeline import compact_day
from ticklake_dagster.resources import LakeResource


@dg.asset(
    partitions_def=ticks_partitions_def,
    backfill_policy=ticks_backfill_policy,
    group_name="ticks",
    kinds={"parquet", "s3"},
)
def r2_ticks(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """The day's raw tick parts compacted into ticks_daily/symbol=/date=/ticks.parquet."""
    store = lake.get_lake()
    results = []
    for symbol, day in symbol_days(context):
        result = compact_day(store, symbol, day)
        meta = result.metadata()
        context.log.info(
            f"{symbol} {day}: {result.parts} parts, {meta['ticks_kept']} ticks kept, "
            f"{result.clean.rejected_total} rejected, {result.clean.duplicates} duplicates -> {result.key}"
        )
        results.append(result)
    if len(results) == 1:
        only = results[0]
        return dg.MaterializeResult(metadata={**only.metadata(), "path": dg.MetadataValue.path(only.key)})
    return dg.MaterializeResult(
        metadata={
            "partitions": len(results),
            "parts_read": sum(r.parts for r in results),
            "ticks_kept": sum(len(r.ticks) for r in results),
            "rejected": sum(r.clean.rejected_total for r in results),
            "duplicates_removed": sum(r.clean.duplicates for r in results),
            "bytes_written": sum(r.bytes_written for r in results),
            "empty_days": sum(1 for r in results if r.parts == 0),
        }
    )
