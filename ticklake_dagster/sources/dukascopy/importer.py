"""Import symbol-days from a Dukascopy feed: 24 hours fetched, then decoded and written as one raw part per day.

A day is written only when all 24 hours are in and decode, at a deterministic key, so a day is in the
lake whole or not at all and re-running never duplicates a tick. Fetching, decoding and writing
overlap: `concurrency` threads fetch hour bodies while finished days are decoded and encoded as Parquet
(`day_parts.encode_day`) and uploaded by writer threads. A long import encodes in one worker process
per core: LZMA and Parquet are most of its CPU, and in their own processes they use every core instead
of sharing one GIL with the fetching threads (measured in `benchmarks/bench_import.py`). Requests,
retries, the lake and every outcome stay in this process.
"""

import collections
import concurrent.futures as cf
import dataclasses
import datetime as dt
import multiprocessing
import os
import queue
import time
from collections.abc import Callable, Iterable

from ticklake_dagster.core.days import day_start_ms
from ticklake_dagster.lake.keys import DUKASCOPY_PART_SUFFIX, PART_EXTENSIONS, RAW_ROOT, raw_part_key
from ticklake_dagster.lake.storage import Lake
from ticklake_dagster.sources.dukascopy.day_parts import (
    EncodedDay,
    HourUndecodable,
    block_interrupts,
    encode_day,
    ignore_interrupts,
)
from ticklake_dagster.sources.dukascopy.feeds import Feed, hour_starts
from ticklake_dagster.sources.dukascopy.fetch import FeedClient, FetchError
from ticklake_dagster.sources.dukascopy.instruments import Instrument, market_may_be_open

PART_SUFFIX = DUKASCOPY_PART_SUFFIX
# Worker processes take ~1 s to start (the fork server imports numpy and pyarrow once): worth it from about a
# month of days (a month partition of the Dagster asset), while a few days (tests, a resumed import) stay here.
PROCESS_MIN_DAYS = 28

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
                day = dt.date(month[0], month[1], int(obj.key[len(prefix) : len(prefix) + 2]))
            except ValueError:
                continue
            if day in out:
                out[day].append(obj.key)
    return out


def plan(
    lake: Lake, source: ImportSource, days: list[dt.date], overwrite: bool
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
            skipped.append(
                DayOutcome(source.symbol, day, DONE if own in keys else LIVE, key=own if own in keys else None)
            )
        else:
            todo.append((day, keys))
    return todo, skipped


def _worker_context() -> multiprocessing.context.BaseContext:
    """forkserver where available, else spawn; never a plain fork of this process, which already runs threads.

    The fork server imports the encoding code once (~1 s for numpy and pyarrow) and forks workers from
    that thread-free process in milliseconds; spawn would import it again in every worker.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([encode_day.__module__])
    return context


@dataclasses.dataclass
class _DayWork:
    source: ImportSource
    day: dt.date
    hours: list[cf.Future]  # each -> (body, retries)
    write: cf.Future | None = None
    decode_failures: collections.Counter = dataclasses.field(default_factory=collections.Counter)  # hour -> failures
    finished: bool = False


class Importer:
    """Runs fetch -> decode -> write for many (source, day) pairs with bounded requests in flight.

    `processes`: worker processes that decode and encode days; None picks one per core for imports of
    `PROCESS_MIN_DAYS` days or more and none (threads in this process) below that or on one core.
    """

    def __init__(
        self,
        lake: Lake,
        client: FeedClient,
        concurrency: int,
        *,
        overwrite: bool = False,
        on_day: Callable[[DayOutcome], None] | None = None,
        writers: int = 2,
        probe: bool = True,
        processes: int | None = None,
    ):
        self.lake = lake
        self.client = client
        self.concurrency = concurrency
        self.overwrite = overwrite
        self.on_day = on_day or (lambda outcome: None)
        self.writers = writers
        self.probe = probe  # one quick request first: an unreachable feed is one error, not every hour retried
        self.processes = processes
        self._encoder: cf.ProcessPoolExecutor | None = None

    def run(self, sources: list[ImportSource], days: list[dt.date]) -> ImportSummary:
        """Import every source over the same days."""
        return self.run_jobs([(source, days) for source in sources])

    def _worker_processes(self, days: int) -> int:
        if self.processes is not None:
            return self.processes
        cpus = os.cpu_count() or 1
        return cpus if cpus > 1 and days >= PROCESS_MIN_DAYS else 0

    def run_jobs(self, jobs: list[tuple[ImportSource, list[dt.date]]]) -> ImportSummary:
        """Import each (source, days) in order; an interrupt stops it with every written day whole."""
        started = time.monotonic()
        summary = ImportSummary()
        waiting: collections.deque = collections.deque()
        existing: dict[tuple[str, dt.date], list[str]] = {}
        outcome: DayOutcome | None  # a skipped day's, then a finished day's (None: not finished)
        for source, days in jobs:
            todo, skipped = plan(self.lake, source, days, self.overwrite)
            for outcome in skipped:
                self._report(summary, outcome)
            existing.update({(source.symbol, day): keys for day, keys in todo})
            waiting.extend((source, day) for day, _ in todo)
        if waiting and self.probe:
            source, day = waiting[0]
            self.client.probe(source.hour_url(hour_starts(day)[0]))
        processes = self._worker_processes(len(waiting)) if waiting else 0
        if processes:
            self._encoder = cf.ProcessPoolExecutor(processes, _worker_context(), initializer=ignore_interrupts)
        # Two writers per encoding process, so a day's upload (an fsync, or an S3 round trip) overlaps the next
        # day's encoding; enough days fetched ahead to keep every connection and encoder busy across day
        # boundaries, few enough to bound memory.
        writer_count = max(self.writers, 2 * processes + 1)
        window = max(3, -(-self.concurrency // 24) + 2, writer_count + 2)
        fetchers = cf.ThreadPoolExecutor(self.concurrency, thread_name_prefix="dukascopy-fetch")
        # Writers submit to the encoder, so they start its processes: with SIGINT blocked, which the children inherit.
        writers = cf.ThreadPoolExecutor(
            writer_count, thread_name_prefix="dukascopy-write", initializer=block_interrupts
        )
        active: list[_DayWork] = []
        # Futures report their day here when they finish: one wake-up per finished request, not a scan of all of them.
        self._changed: queue.SimpleQueue[_DayWork] = queue.SimpleQueue()
        try:
            while waiting or active:
                while waiting and len(active) < window:
                    source, day = waiting.popleft()
                    work = _DayWork(source, day, [])
                    work.hours = [self._submit(fetchers, work, self._hour, source, h) for h in hour_starts(day)]
                    active.append(work)
                try:
                    changed = {id(w): w for w in [self._changed.get(timeout=0.5)]}
                except queue.Empty:
                    continue
                while not self._changed.empty():
                    w = self._changed.get()
                    changed[id(w)] = w
                for work in changed.values():
                    if work.finished:
                        continue
                    outcome = self._advance(work, fetchers, writers, existing.get((work.source.symbol, work.day), []))
                    if outcome is not None:
                        work.finished = True
                        active.remove(work)
                        # Its futures' callbacks hold the day: a cycle that would keep its 24 bodies until the
                        # cyclic GC runs (a JSON-API year held ~300 MB of them); the bodies go now.
                        work.hours = []
                        self._report(summary, outcome)
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
                    outcome = self._written(work)
                    if outcome is not None:
                        self._report(summary, outcome)
            raise
        finally:
            fetchers.shutdown(wait=not summary.interrupted, cancel_futures=True)
            writers.shutdown(wait=True)
            if self._encoder is not None:
                self._encoder.shutdown(wait=True, cancel_futures=True)
                self._encoder = None
            summary.seconds = time.monotonic() - started
        return summary

    def _report(self, summary: ImportSummary, outcome: DayOutcome) -> None:
        summary.outcomes.append(outcome)
        self.on_day(outcome)

    def _submit(self, executor: cf.Executor, work: _DayWork, fn, *args) -> cf.Future:
        future = executor.submit(fn, *args)
        future.add_done_callback(lambda _: self._changed.put(work))
        return future

    def _hour(self, source: ImportSource, hour: dt.datetime) -> tuple[bytes, int]:
        return self.client.fetch_body(source.hour_url(hour), market_may_be_open(source.instrument, hour))

    def _advance(
        self, work: _DayWork, fetchers: cf.ThreadPoolExecutor, writers: cf.ThreadPoolExecutor, existing: list[str]
    ) -> DayOutcome | None:
        """The day's outcome once it is finished, after starting its write when all hours are in."""
        if work.write is not None:
            if not work.write.done():
                return None
            error = work.write.exception()
            if isinstance(error, HourUndecodable):
                return self._refetch(work, error, fetchers)
            return self._written(work)
        for f in work.hours:
            if f.done() and not f.cancelled() and (error := f.exception()) is not None:
                for other in work.hours:
                    other.cancel()
                if not all(o.done() for o in work.hours):
                    return None
                return self._failure(work, error)
        if not all(f.done() for f in work.hours):
            return None
        bodies = [f.result() for f in work.hours]
        work.write = self._submit(writers, work, self._write, work, bodies, existing)
        return None

    def _refetch(self, work: _DayWork, error: HourUndecodable, fetchers: cf.ThreadPoolExecutor) -> DayOutcome | None:
        """A body that failed to decode is fetched again (a truncated download), until the attempts run out."""
        url = work.source.hour_url(hour_starts(work.day)[error.hour])
        work.decode_failures[error.hour] += 1
        attempts = self.client.policy.decode_attempts
        if work.decode_failures[error.hour] >= attempts:
            return self._failure(work, FetchError(url, f"undecodable body after {attempts} attempts ({error.reason})"))
        work.hours[error.hour] = self._submit(
            fetchers, work, self.client.refetch_body, url, work.decode_failures[error.hour]
        )
        work.write = None
        return None

    def _written(self, work: _DayWork) -> DayOutcome | None:
        assert work.write is not None  # called once the day's write started
        error = work.write.exception()
        if error is None:
            return work.write.result()
        if isinstance(error, HourUndecodable):  # interrupted before it could be fetched again: not a day written
            return None
        return DayOutcome(
            work.source.symbol,
            work.day,
            FAILED,
            reason=f"writing {dukascopy_part_key(work.source.symbol, work.day)}: {error}",
        )

    def _failure(self, work: _DayWork, error: BaseException) -> DayOutcome:
        if isinstance(error, FetchError):
            reason = str(error)
        else:
            reason = f"{type(error).__name__}: {str(error)[:200]}"
        return DayOutcome(work.source.symbol, work.day, FAILED, reason=reason)

    def _encode(self, source: ImportSource, day: dt.date, bodies: list[bytes]) -> EncodedDay:
        args = (source.feed.name, source.instrument, day_start_ms(day), bodies)
        if self._encoder is None:
            return encode_day(*args)
        return self._encoder.submit(encode_day, *args).result()

    def _write(self, work: _DayWork, bodies: list[tuple[bytes, int]], existing: list[str]) -> DayOutcome:
        symbol, day = work.source.symbol, work.day
        encoded = self._encode(work.source, day, [body for body, _ in bodies])
        key = dukascopy_part_key(symbol, day)
        self.lake.put(key, encoded.data)
        replaced = [k for k in existing if k != key]
        for old in replaced:  # --overwrite: Dukascopy's day replaces the live feed's parts, after it is safely written
            self.lake.delete(old)
        return DayOutcome(
            symbol,
            day,
            IMPORTED,
            ticks=encoded.ticks,
            empty_hours=encoded.empty_hours,
            retries=sum(r for _, r in bodies) + sum(work.decode_failures.values()),
            body_bytes=sum(len(b) for b, _ in bodies),
            bytes_written=len(encoded.data),
            key=key,
            replaced=replaced,
        )
