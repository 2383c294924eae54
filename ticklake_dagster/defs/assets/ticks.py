"""raw_ticks (the ingester's parts, external) and r2_ticks: each symbol-day compacted into one validated Parquet file.

The step that writes r2_ticks also writes candles_5m (defs/assets/daily.py); this module holds the
r2_ticks half: its spec and the compaction of a run's days.
"""

import datetime as dt

import dagster as dg

from ticklake_dagster.defs.checks import read_compacted_table, ticks_findings
from ticklake_dagster.defs.metadata import ticks_metadata
from ticklake_dagster.defs.partitions import partition_key, ticks_partitions_def
from ticklake_dagster.defs.resources import TicklakeSettings
from ticklake_dagster.defs.run_log import BatchedLog
from ticklake_dagster.lake.storage import Lake
from ticklake_dagster.ticks.compaction import CompactedDay, compact_day

R2_TICKS = dg.AssetKey("r2_ticks")

# Written by the ingester (a separate service), not by Dagster: the lake sensor reports new parts on it.
raw_ticks = dg.AssetSpec(
    "raw_ticks",
    partitions_def=ticks_partitions_def,
    group_name="ticks",
    kinds={"parquet", "s3"},
    description="Raw tick parts under ticks/{SYMBOL}/{YYYY}/{MM}/{DD}/, written by the ingester.",
)

R2_TICKS_SPEC = dg.AssetSpec(
    R2_TICKS,
    deps=[raw_ticks],
    group_name="ticks",
    kinds={"parquet", "s3"},
    skippable=True,
    description="The day's raw tick parts compacted into ticks_daily/symbol=/date=/ticks.parquet.",
)


def compact_with_findings(
    store: Lake, symbol: str, day: dt.date, settings: TicklakeSettings, log: BatchedLog
) -> tuple[CompactedDay, dict[str, str | None] | None]:
    """Compact one symbol-day and judge what readers will see: the file read back, not the frame meant to be written.

    Findings are None for a day without parts (nothing was written, nothing to check).
    """
    result = compact_day(store, symbol, day)
    log.add(
        f"{symbol} {day}: {result.parts} parts, {len(result.ticks)} ticks kept, "
        f"{result.clean.rejected_total} rejected, {result.clean.duplicates} duplicates -> {result.key}"
    )
    if not result.parts:
        return result, None
    written = read_compacted_table(store.get(result.key)) if store.exists(result.key) else None
    return result, ticks_findings(written, day, result.clean.rows_read, result.clean.rejected_total, settings)


def ticks_materialization(result: CompactedDay, extra: dict | None = None) -> dg.AssetMaterialization:
    return dg.AssetMaterialization(
        asset_key=R2_TICKS,
        partition=str(partition_key(result.symbol, result.day)),
        metadata={**ticks_metadata(result), **(extra or {})},
    )
