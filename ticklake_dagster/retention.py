"""Keep N days (TICKLAKE_RETENTION_DAYS, default 90) of 5-minute candles in the database; never touch the lake.

Older days are rebuilt on demand by backfilling their partitions from the lake. Higher timeframes are
kept (they are small and are what long-range charts read). TimescaleDB gets a retention policy that
drops whole 7-day chunks; plain PostgreSQL deletes rows in this nightly job.
"""

import dataclasses
import datetime as dt

import dagster as dg

from ticklake_dagster.days import utc_midnight
from ticklake_dagster.migrate import TIMESCALEDB
from ticklake_dagster.resources import DatabaseResource
from ticklake_dagster.settings import env_number

DEFAULT_RETENTION_DAYS = 90


def retention_days() -> int:
    return env_number("TICKLAKE_RETENTION_DAYS", DEFAULT_RETENTION_DAYS, int, minimum=1)


def retention_cutoff(now: dt.datetime, days: int) -> dt.datetime:
    """Midnight UTC `days` days before today: candles before it go."""
    return utc_midnight(now.astimezone(dt.timezone.utc).date() - dt.timedelta(days=days))


@dataclasses.dataclass
class RetentionResult:
    flavor: str
    cutoff: dt.datetime
    rows_deleted: int | None  # plain PostgreSQL
    chunks_dropped: int | None  # TimescaleDB
    policy: str | None


def apply_retention(conn, flavor: str, days: int, now: dt.datetime) -> RetentionResult:
    """Enforce the window now; on TimescaleDB also (re)install the matching background retention policy."""
    cutoff = retention_cutoff(now, days)
    with conn, conn.cursor() as cur:
        if flavor != TIMESCALEDB:
            cur.execute("DELETE FROM candles_5m WHERE time < %s", (cutoff,))
            return RetentionResult(flavor, cutoff, cur.rowcount, None, None)
        interval = f"{days} days"
        cur.execute(
            "SELECT config->>'drop_after' FROM timescaledb_information.jobs"
            " WHERE proc_name = 'policy_retention' AND hypertable_name = 'candles_5m'"
        )
        row = cur.fetchone()
        if row is None or row[0] != interval:
            cur.execute("SELECT remove_retention_policy('candles_5m', if_exists => TRUE)")
            cur.execute("SELECT add_retention_policy('candles_5m', drop_after => %s::interval)", (interval,))
        cur.execute("SELECT count(*) FROM drop_chunks('candles_5m', older_than => %s::timestamptz)", (cutoff,))
        dropped = cur.fetchone()[0]
        return RetentionResult(flavor, cutoff, None, dropped, f"drop_after {interval}")


@dg.op(description="Drops 5-minute candles older than the retention window (the lake is never touched).")
def prune_old_candles(context: dg.OpExecutionContext, database: DatabaseResource) -> dg.Output[None]:
    """Apply TICKLAKE_RETENTION_DAYS to candles_5m."""
    days = retention_days()
    flavor = database.ensure_schema()
    with database.connect() as conn:
        result = apply_retention(conn, flavor, days, dt.datetime.now(dt.timezone.utc))
    context.log.info(
        f"kept {days} days of candles_5m (before {result.cutoff:%Y-%m-%d} dropped): "
        + (f"{result.rows_deleted} rows deleted" if result.rows_deleted is not None else f"{result.chunks_dropped} chunks dropped, policy {result.policy}")
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
