"""lake_stats: the lake's coverage, size, ticks and monthly bill as metadata the Dagster UI plots over time."""

import datetime as dt

import dagster as dg

from ticklake_dagster.core.errors import DatabaseError
from ticklake_dagster.defs.resources import DatabaseResource, LakeResource, TicklakeSettings
from ticklake_dagster.lake.report import CostReport, cost_report, markdown, postgres_footprint, sensor_figures
from ticklake_dagster.lake.scan import LAKE_SENSOR_INTERVAL_SECONDS
from ticklake_dagster.lake.stats import RATE_DAYS, LakeStats, collect_stats, recent_gaps

LAKE_COVERAGE_CHECK = "recent_coverage"


def stats_metadata(stats: LakeStats, report: CostReport) -> dict:
    """Numbers as int/float metadata (plotted across materializations) and a Markdown table per symbol."""
    total = stats.total
    meta: dict = {
        "total_bytes": dg.MetadataValue.int(total.total_bytes),
        "raw_bytes": dg.MetadataValue.int(total.raw_bytes),
        "compacted_bytes": dg.MetadataValue.int(total.compacted_bytes),
        "objects": dg.MetadataValue.int(total.objects),
        "ticks": dg.MetadataValue.int(total.ticks),
        "days_with_data": dg.MetadataValue.int(total.days_with_data),
        "gap_days": dg.MetadataValue.int(total.gap_days),
        "uncompacted_days": dg.MetadataValue.int(len(total.uncompacted)),
        "parts_per_day": dg.MetadataValue.float(float(total.parts_per_day)),
        "monthly_cost_r2_usd": dg.MetadataValue.float(report.r2.total),
        "monthly_cost_r2_json_parts_usd": dg.MetadataValue.float(report.r2_json.total),
        "monthly_cost_s3_usd": dg.MetadataValue.float(report.s3.total),
        "list_requests": dg.MetadataValue.int(stats.list_requests),
        "footer_reads": dg.MetadataValue.int(stats.footer_reads),
        "symbols": dg.MetadataValue.md(markdown(stats)),
    }
    if total.bytes_per_tick is not None:
        meta["bytes_per_tick"] = dg.MetadataValue.float(total.bytes_per_tick)
    if report.postgres is not None and report.postgres.bytes_per_tick is not None:
        meta["postgres_bytes_per_tick"] = dg.MetadataValue.float(report.postgres.bytes_per_tick)
    for s in stats.symbols:
        meta[f"bytes_{s.symbol}"] = dg.MetadataValue.int(s.total_bytes)
        meta[f"ticks_{s.symbol}"] = dg.MetadataValue.int(s.ticks)
    return meta


def coverage_check(stats: LakeStats) -> dg.AssetCheckResult:
    """WARN when a symbol lacks data on an open-market day of the last RATE_DAYS days."""
    missing = {s.symbol: recent_gaps(s, stats.today) for s in stats.symbols}
    missing = {symbol: gaps for symbol, gaps in missing.items() if gaps}
    text = "; ".join(f"{symbol}: {', '.join(str(g) for g in gaps)}" for symbol, gaps in missing.items())
    return dg.AssetCheckResult(
        check_name=LAKE_COVERAGE_CHECK,
        passed=not missing,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"open-market days without data in the last {RATE_DAYS} days: {text}"
        if missing
        else f"every open-market day of the last {RATE_DAYS} days has data",
        metadata={
            "symbols_with_gaps": dg.MetadataValue.int(len(missing)),
            "gap_days": dg.MetadataValue.int(sum(g.open_days for gaps in missing.values() for g in gaps)),
        },
    )


@dg.asset(
    group_name="ticks",
    kinds={"s3"},
    check_specs=[
        dg.AssetCheckSpec(
            LAKE_COVERAGE_CHECK,
            asset="lake_stats",
            description=f"Every symbol has data on each open-market day of the last {RATE_DAYS} days.",
        )
    ],
    description=(
        "Coverage, objects, bytes, ticks and the monthly R2 bill of the whole lake (listings and footers only)."
    ),
)
def lake_stats(
    context: dg.AssetExecutionContext, lake: LakeResource, database: DatabaseResource, settings: TicklakeSettings
) -> dg.MaterializeResult:
    """The `ticklake lake stats` figures for every symbol, as plotted metadata."""
    today = dt.datetime.now(dt.timezone.utc).date()
    stats = collect_stats(
        lake.get_lake(), today=today, progress=lambda n, r: context.log.info(f"listed {n:,} objects in {r:,} requests")
    )
    try:
        flavor = database.ensure_schema()
        with database.connect() as conn:
            postgres = postgres_footprint(conn, flavor)
    except DatabaseError as e:
        context.log.warning(f"no candles_5m comparison: {e}")
        postgres = None
    report = cost_report(stats, sensor_figures(settings, LAKE_SENSOR_INTERVAL_SECONDS), postgres)
    context.log.info(
        f"{len(stats.symbols)} symbols, {stats.total.total_bytes:,} bytes, {stats.total.ticks:,} ticks; "
        f"{stats.list_requests} list requests, {stats.footer_reads} footer reads; "
        f"R2 ${report.r2.total:.2f}/month"
    )
    return dg.MaterializeResult(metadata=stats_metadata(stats, report), check_results=[coverage_check(stats)])
