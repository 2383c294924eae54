"""Import symbol-days from a Dukascopy feed: 24 hours fetched and decoded, then one raw part per day.

A day is written only when all 24 hours are in, at a deterministic key, so a day is in the lake whole
or not at all and re-running never duplicates a tick. Fetching, decoding and writing overlap: hours
are fetched and decoded by `concurrency` worker threads while finished days are encoded as Parquet
and uploaded by two writer threads.
"""

import collections
import concurrent.futures as cf
import dataclasses
import datetime as dt
import io
import time
from collections.abc import Callable, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from ticklake_dagster.days import day_start_ms
from ticklake_dagster.dukascopy.decode import HourTicks, concat_hours
from ticklake_dagster.dukascopy.feeds import Feed, hour_starts
from ticklake_dagster.dukascopy.fetch import FeedClient, FetchError, HourResult
from ticklake_dagster.dukascopy.instruments import Instrument, market_may_be_open
from ticklake_dagster.lake_keys import PART_EXTENSIONS, RAW_ROOT, raw_part_key
from ticklake_dagster.lake_storage import Lake
from ticklake_dagster.ticks import TICK_SCHEMA

PART_SUFFIX = "dukascopy"
VOLUME_FIELDS = [pa.field("ask_volume", pa.float32(), nullable=False), pa.field("bid_volume", pa.float32(), nullable=False)]
PART_SCHEMA = pa.schema([*TICK_SCHEMA, *VOLUME_FIELDS])

IMPORTED, DONE, LIVE, FAILED = "imported", "already_imported", "live_parts", "failed"


def dukascopy_part_key(symbol: str, day: dt.date) -> str:
    """`ticks/EURUSD/2019/01/02/part-1546387200000-dukascopy.parquet`: one fixed key per symbol-day."""
    return raw_part_key(symbol, day, day_start_ms(day), suffix=PART_SUFFIX)


@dataclasses.dataclass(frozen=True)
class ImportSource:
    """Where one lake symbol's history comes from."""

    symbol: str  # the lake symbol the parts are stored under
    instrument: Instrument
    feed: Feed
    base_url: str

    def hour_url(self, hour: dt.datetime) -> str:
        return self.feed.url_for(self.base_url, self.instrument, hour)


@dataclasses.dataclass
class DayOutcome:
    symbol: str
    day: dt.date
    status: str
    ticks: int = 0
    empty_hours: int = 0
    retries: int = 0
    body_bytes: int = 0
    bytes_written: int = 0
    key: str | None = None
    reason: str | None = None
    replaced: list[str] = dataclasses.field(default_factory=list)  # live parts removed by --overwrite


@dataclasses.dataclass
class ImportSummary:
    outcomes: list[DayOutcome] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    def total(self, field: str) -> int:
        return sum(getattr(o, field) for o in self.outcomes)

    @property
    def failed(self) -> list[DayOutcome]:
        return [o for o in self.outcomes if o.status == FAILED]

    @property
    def ticks_per_second(self) -> float:
        return self.total("ticks") / self.seconds if self.seconds > 0 else 0.0

    def metadata(self) -> dict:
        return {
            "days_imported": self.count(IMPORTED),
            "days_skipped": self.count(DONE) + self.count(LIVE),
            "days_skipped_live": self.count(LIVE),
            "days_failed": self.count(FAILED),
            "ticks": self.total("ticks"),
            "empty_hours": self.total("empty_hours"),
            "retries": self.total("retries"),
            "bytes_downloaded": self.total("body_bytes"),
            "bytes_written": self.total("bytes_written"),
            "seconds": round(self.seconds, 3),
        }

    def line(self) -> str:
        return (
            f"{self.count(IMPORTED)} days imported, {self.count(DONE)} already imported, "
            f"{self.count(LIVE)} skipped (live parts), {self.count(FAILED)} failed; "
            f"{self.total('empty_hours')} empty hours, {self.total('ticks'):,} ticks, "
            f"{self.total('body_bytes') / 1e6:.1f} MB downloaded, {self.total('bytes_written') / 1e6:.1f} MB written "
            f"in {self.seconds:.1f} s ({self.ticks_per_second:,.0f} ticks/s)"
        )


def day_states(lake: Lake, symbol: str, days: Iterable[dt.date]) -> dict[dt.date, list[str]]:
    """Each day's existing raw part keys, from one listing per month (not per day: listings are paid requests)."""
    wanted = sorted(set(days))
    out: dict[dt.date, list[str]] = {d: [] for d in wanted}
    for month in sorted({(d.year, d.month) for d in wanted}):
        prefix = f"{RAW_ROOT}{symbol}/{month[0]:04d}/{month[1]:02d}/"
        for obj in lake.list(prefix):
            if not obj.key.endswith(PART_EXTENSIONS):
                continue
            try:
                day = dt.date(month[0], month[1], int(obj.key[len(prefix):len(prefix) + 2]))
            except ValueError:
                continue
            if day in out:
                out[day].append(obj.key)
    return out


def plan(lake: Lake, source: ImportSource, days: list[dt.date], overwrite: bool
         ) -> tuple[list[tuple[dt.date, list[str]]], list[DayOutcome]]:
    """The days to fetch (with the parts they hold now) and the outcomes of those skipped.

    A day is skipped when it was imported before (resume) or holds the live ingester's parts (the live
    feed wins), unless `overwrite`.
    """
    todo, skipped = [], []
    states = day_states(lake, source.symbol, days)
    for day in days:
        keys = states[day]
        own = dukascopy_part_key(source.symbol, day)
        if keys and not overwrite:
            skipped.append(DayOutcome(source.symbol, day, DONE if own in keys else LIVE, key=own if own in keys else None))
        else:
            todo.append((day, keys))
    return todo, skipped


def part_parquet(ticks: HourTicks) -> bytes:
    """The day as Parquet (zstd like every raw part); delta-encoded times and no dictionaries.

    Measured on 100k-tick days: 22% smaller and ~40% faster to write than the default dictionary
    encoding, which only adds a dictionary page to float columns with few repeats. Every Parquet reader
    (pyarrow, DuckDB, Polars) reads these encodings.
    """
    buf = io.BytesIO()
    pq.write_table(part_table(ticks), buf, compression="zstd", use_dictionary=False,
                   column_encoding={"ts": "DELTA_BINARY_PACKED"})
    return buf.getvalue()


def part_table(ticks: HourTicks) -> pa.Table:
    """The day as a raw part: the lake's tick schema plus Dukascopy's volumes."""
    return pa.table(
        [pa.array(ticks.ts_ms, pa.int64()).cast(PART_SCHEMA.field("ts").type),
         pa.array(ticks.bid, pa.float64()), pa.array(ticks.ask, pa.float64()),
         pa.array(ticks.ask_volume, pa.float32()), pa.array(ticks.bid_volume, pa.float32())],
        schema=PART_SCHEMA,
    )


@dataclasses.dataclass
class _DayWork:
    source: ImportSource
    day: dt.date
    hours: list[cf.Future]
    write: cf.Future | None = None


class Importer:
    """Runs fetch -> decode -> write for many (source, day) pairs with bounded requests in flight."""

    def __init__(self, lake: Lake, client: FeedClient, concurrency: int, *, overwrite: bool = False,
                 on_day: Callable[[DayOutcome], None] | None = None, writers: int = 2, probe: bool = True):
        self.lake = lake
        self.client = client
        self.concurrency = concurrency
        self.overwrite = overwrite
        self.on_day = on_day or (lambda outcome: None)
        self.writers = writers
        self.probe = probe  # one quick request first: an unreachable feed is one error, not every hour retried
        # Enough days queued to keep every connection busy across day boundaries, few enough to bound memory.
        self.window = max(3, -(-concurrency // 24) + 2)

    def run(self, sources: list[ImportSource], days: list[dt.date]) -> ImportSummary:
        """Import every source over the same days."""
        return self.run_jobs([(source, days) for source in sources])

    def run_jobs(self, jobs: list[tuple[ImportSource, list[dt.date]]]) -> ImportSummary:
        """Import each (source, days) in order; an interrupt stops it with every written day whole."""
        started = time.monotonic()
        summary = ImportSummary()
        queue: collections.deque = collections.deque()
        existing: dict[tuple[str, dt.date], list[str]] = {}
        for source, days in jobs:
            todo, skipped = plan(self.lake, source, days, self.overwrite)
            for outcome in skipped:
                self._report(summary, outcome)
            existing.update({(source.symbol, day): keys for day, keys in todo})
            queue.extend((source, day) for day, _ in todo)
        if queue and self.probe:
            source, day = queue[0]
            self.client.probe(source.hour_url(hour_starts(day)[0]))
        fetchers = cf.ThreadPoolExecutor(self.concurrency, thread_name_prefix="dukascopy-fetch")
        writers = cf.ThreadPoolExecutor(self.writers, thread_name_prefix="dukascopy-write")
        active: list[_DayWork] = []
        try:
            while queue or active:
                while queue and len(active) < self.window:
                    source, day = queue.popleft()
                    active.append(_DayWork(source, day, [fetchers.submit(self._hour, source, h) for h in hour_starts(day)]))
                pending = [f for w in active for f in ([w.write] if w.write else w.hours) if not f.done()]
                if pending:
                    cf.wait(pending, timeout=0.5, return_when=cf.FIRST_COMPLETED)
                still = []
                for work in active:
                    outcome = self._advance(work, writers, existing.get((work.source.symbol, work.day), []))
                    if outcome is None:
                        still.append(work)
                    else:
                        self._report(summary, outcome)
                active = still
        except BaseException:  # Ctrl-C, or Dagster terminating the run: stop every request, keep whole days only
            summary.interrupted = True
            self.client.stop.set()
            for work in active:
                for f in work.hours:
                    f.cancel()
            # A write already started finishes (puts are atomic); a day still fetching is dropped whole.
            for work in active:
                if work.write is not None:
                    cf.wait([work.write])
                    self._report(summary, self._written(work))
            raise
        finally:
            fetchers.shutdown(wait=not summary.interrupted, cancel_futures=True)
            writers.shutdown(wait=True)
            summary.seconds = time.monotonic() - started
        return summary

    def _report(self, summary: ImportSummary, outcome: DayOutcome) -> None:
        summary.outcomes.append(outcome)
        self.on_day(outcome)

    def _hour(self, source: ImportSource, hour: dt.datetime) -> HourResult:
        start_ms = int(hour.timestamp() * 1000)
        return self.client.fetch_hour(
            source.hour_url(hour), lambda body, ms: source.feed.decode(body, ms, source.instrument),
            start_ms, market_may_be_open(source.instrument, hour),
        )

    def _advance(self, work: _DayWork, writers: cf.ThreadPoolExecutor, existing: list[str]) -> DayOutcome | None:
        """The day's outcome once it is finished, after starting its write when all hours are in."""
        if work.write is not None:
            return self._written(work) if work.write.done() else None
        for f in work.hours:
            if f.done() and not f.cancelled() and f.exception() is not None:
                for other in work.hours:
                    other.cancel()
                if not all(o.done() for o in work.hours):
                    return None
                return self._failure(work, f.exception())
        if not all(f.done() for f in work.hours):
            return None
        results = [f.result() for f in work.hours]
        work.write = writers.submit(self._write, work.source.symbol, work.day, results, existing)
        return None

    def _written(self, work: _DayWork) -> DayOutcome:
        error = work.write.exception()
        if error is None:
            return work.write.result()
        return DayOutcome(work.source.symbol, work.day, FAILED, reason=f"writing {dukascopy_part_key(work.source.symbol, work.day)}: {error}")

    def _failure(self, work: _DayWork, error: BaseException) -> DayOutcome:
        if isinstance(error, FetchError):
            reason = str(error)
        else:
            reason = f"{type(error).__name__}: {str(error)[:200]}"
        return DayOutcome(work.source.symbol, work.day, FAILED, reason=reason)

    def _write(self, symbol: str, day: dt.date, results: list[HourResult], existing: list[str]) -> DayOutcome:
        ticks = concat_hours([r.ticks for r in results])
        data = part_parquet(ticks)
        key = dukascopy_part_key(symbol, day)
        self.lake.put(key, data)
        replaced = [k for k in existing if k != key]
        for old in replaced:  # --overwrite: Dukascopy's day replaces the live feed's parts, after it is safely written
            self.lake.delete(old)
        return DayOutcome(
            symbol, day, IMPORTED, ticks=len(ticks), empty_hours=sum(r.empty for r in results),
            retries=sum(r.retries for r in results), body_bytes=sum(r.body_bytes for r in results),
            bytes_written=len(data), key=key, replaced=replaced,
        )
