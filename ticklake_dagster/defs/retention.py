"""Keep N days (TICKLAKE_RETENTION_DAYS, default 90) of 5-minute candles in the database; never touch the lake.

Older days are rebuilt on demand by backfilling their partitions from the lake. Higher timeframes are
kept (they are small and are what long-range charts read). TimescaleDB gets a retention policy that
drops whole 7-day chunks; plain PostgreSQL deletes rows in this nightly job.
"""

import datetime as dt

import dagster as dg

from ticklake_dagster.candles.sql import apply_retention
from ticklake_dagster.defs.resources import DatabaseResource, TicklakeSettings


@dg.op(description="Drops 5-minute candles older than the retention window (the lake is never touched).")
def prune_old_candles(
    context: dg.OpExecutionContext, database: DatabaseResource, settings: TicklakeSettings
) -> dg.Output[None]:
    """Apply TICKLAKE_RETENTION_DAYS to candles_5m."""
    days = settings.retention_days
    flavor = database.ensure_schema()
    with database.connect() as conn:
        result = apply_retention(conn, flavor, days, dt.datetime.now(dt.timezone.utc))
    context.log.info(
        f"kept {days} days of candles_5m (before {result.cutoff:%Y-%m-%d} dropped): "
        + (
            f"{result.rows_deleted} rows deleted"
            if result.rows_deleted is not None
            else f"{result.chunks_dropped} chunks dropped, policy {result.policy}"
        )
    )
    return dg.Output(
        None,
        metadata={
            "retention_days": days,
            "cutoff": result.cutoff.isoformat(),
            "database_flavor": flavor,
            "rows_deleted": result.rows_deleted if result.rows_deleted is not None else -1,
            "chunks_dropped": result.chunks_dropped if result.chunks_dropped is not None else -1,
        },
    )


@dg.job(description="Nightly: keep TICKLAKE_RETENTION_DAYS of 5-minute candles in the database.")
def candle_retention_job():
    prune_old_candles()
