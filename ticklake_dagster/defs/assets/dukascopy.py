"""dukascopy_ticks: Dukascopy history imported into the lake's raw parts, one symbol x month partition at a time.

Monthly, not daily: a backfill's bookkeeping costs seconds per run and events per partition, so twenty
years of thirty symbols as days (~220,000 partitions) would spend hours just creating runs.
"""

import calendar
import datetime as dt

import dagster as dg

from ticklake_dagster.core.errors import TicklakeError
from ticklake_dagster.core.settings import env_number
from ticklake_dagster.defs.partitions import MONTH_DIMENSION, SYMBOL_DIMENSION, history_partitions_def, symbol_months
from ticklake_dagster.defs.resources import DukascopyResource, LakeResource
from ticklake_dagster.sources.dukascopy.feeds import get_feed
from ticklake_dagster.sources.dukascopy.importer import FAILED, LIVE, DayOutcome, Importer, ImportSource, ImportSummary
from ticklake_dagster.sources.dukascopy.instruments import resolve_instrument

DUKASCOPY_POOL = "dukascopy"
# A year of one symbol per run: ~8,800 requests, a few minutes at a polite rate, few runs to book-keep.
HISTORY_PARTITIONS_PER_RUN = int(env_number("TICKLAKE_HISTORY_PARTITIONS_PER_RUN", 12, int, minimum=1))

dukascopy_backfill_policy = dg.BackfillPolicy.multi_run(max_partitions_per_run=HISTORY_PARTITIONS_PER_RUN)


def month_days(month_start: dt.date, today: dt.date) -> list[dt.date]:
    """The month's whole UTC days: none from today on, which the feed has not finished publishing."""
    last = calendar.monthrange(month_start.year, month_start.month)[1]
    days = [month_start.replace(day=d) for d in range(1, last + 1)]
    return [d for d in days if d < today]


def request_share(instance: dg.DagsterInstance, total: int) -> int:
    """This step's requests in flight: the total divided among the pool's slots, so steps together stay within it."""
    slots = None
    try:
        slots = instance.event_log_storage.get_concurrency_info(DUKASCOPY_POOL).slot_count or None
    except Exception:  # storages without pool support (the in-memory test instance)
        pass
    if slots is None:
        try:
            slots = instance.get_concurrency_config().pool_config.default_pool_limit
        except Exception:
            slots = None
    return max(1, total // max(1, slots or 1))


def _log_day(context: dg.AssetExecutionContext, outcome: DayOutcome) -> None:
    """Only the days worth a look: every log line is a row in Dagster's event log, and a run holds a year of days."""
    if outcome.status == FAILED:
        context.log.error(f"{outcome.symbol} {outcome.day}: failed: {outcome.reason}")
    elif outcome.status == LIVE:
        context.log.info(f"{outcome.symbol} {outcome.day}: skipped, the day holds the live ingester's parts")


def partition_metadata(summary: ImportSummary) -> dict:
    meta = summary.metadata()
    meta.pop("seconds")
    return meta


@dg.asset(
    partitions_def=history_partitions_def,
    backfill_policy=dukascopy_backfill_policy,
    group_name="history",
    pool=DUKASCOPY_POOL,
    kinds={"parquet", "s3"},
    description="Dukascopy's tick history as raw parts ticks/{SYMBOL}/{YYYY}/{MM}/{DD}/part-{ms}-dukascopy.parquet, "
    "one per symbol-day; days already imported or holding the live ingester's parts are skipped.",
)
def dukascopy_ticks(
    context: dg.AssetExecutionContext, lake: LakeResource, dukascopy: DukascopyResource
) -> dg.MaterializeResult:
    """Import each symbol-month of the run through the same importer as `ticklake import dukascopy`."""
    today = dt.datetime.now(dt.timezone.utc).date()
    try:
        feed = get_feed(dukascopy.feed)
        base = dukascopy.base_url()
        months = symbol_months(context)
        instruments = {symbol: resolve_instrument(symbol) for symbol in sorted({s for s, _ in months})}
    except TicklakeError as e:  # e.g. a symbol without a point factor: fail before any request, saying why
        raise dg.Failure(description=str(e)) from None
    concurrency = request_share(context.instance, dukascopy.concurrency)
    jobs = [
        (ImportSource(symbol, instruments[symbol], feed, base), month_days(month, today)) for symbol, month in months
    ]
    store = lake.get_lake()
    context.log.info(
        f"Importing {len(months)} symbol-months from {base} ({feed.name}) into {store.describe()}, "
        f"{concurrency} requests in flight"
    )
    client = dukascopy.client(feed.name, concurrency)
    try:
        summary = Importer(store, client, concurrency, on_day=lambda o: _log_day(context, o)).run_jobs(jobs)
    finally:
        client.close()
    context.log.info(summary.line())

    per_partition = {}
    for symbol, month in months:
        part = ImportSummary(
            [
                o
                for o in summary.outcomes
                if o.symbol == symbol and (o.day.year, o.day.month) == (month.year, month.month)
            ]
        )
        key = dg.MultiPartitionKey({SYMBOL_DIMENSION: symbol, MONTH_DIMENSION: month.isoformat()})
        per_partition[str(key)] = part
    failed = [(key, o) for key, part in per_partition.items() for o in part.outcomes if o.status == FAILED]
    if failed:
        shown = "; ".join(f"{o.symbol} {o.day}: {o.reason}" for _, o in failed[:5])
        more = f" (and {len(failed) - 5} more)" if len(failed) > 5 else ""
        raise dg.Failure(
            description=f"{len(failed)} days failed in {len({k for k, _ in failed})} partitions: {shown}{more}",
            metadata={"failed_partitions": sorted({k for k, _ in failed}), **summary.metadata()},
        )
    if len(per_partition) == 1:
        return dg.MaterializeResult(metadata=partition_metadata(next(iter(per_partition.values()))))
    rows = "\n".join(
        f"| {key} | {m['days_imported']} | {m['days_skipped']} | {m['ticks']} | {m['empty_hours']} "
        f"| {m['bytes_written']} |"
        for key, m in ((k, partition_metadata(p)) for k, p in per_partition.items())
    )
    return dg.MaterializeResult(
        metadata={
            **partition_metadata(summary),
            "partitions": len(per_partition),
            "per_partition": dg.MetadataValue.md(
                "| partition | days imported | days skipped | ticks | empty hours | bytes written |\n"
                "|---|---|---|---|---|---|\n" + rows
            ),
        }
    )
