"""Candles straight from the lake's compacted days, for days the database no longer (or not yet) holds.

A day's 5-minute candles are built by the same code as candles_5m (`candles.build_candles` over the
compacted day, every price side) and rolled up like the database's higher timeframes (`rollup_rule`:
first open, max high, min low, last close, summed ticks and volumes). Every intraday timeframe divides a
UTC day, so a day's candles never depend on another day's; session bars (1d, 1w, 1M) are rolled up from
the days' candles by the symbol's session.

Built days stay in an LRU cache bounded in bytes; concurrent requests for a day not in it wait for a
single build. A day is keyed with its compacted object's size and mtime, so a rewritten day (late
data) is rebuilt once the listing that reveals it is refreshed.
"""

import collections
import dataclasses
import datetime as dt
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from ticklake_dagster.candles.building import build_candles, roll_up
from ticklake_dagster.candles.session_bars import session_bar_starts
from ticklake_dagster.core.days import day_start_ms
from ticklake_dagster.core.errors import LakeError
from ticklake_dagster.core.sessions import Session, session_for
from ticklake_dagster.core.symbols import validate_symbol
from ticklake_dagster.core.timeframes import BASE, CANDLE_COLUMNS, OHLC, SESSION_TIMEFRAMES, VOLUMES, side_columns
from ticklake_dagster.lake.keys import DAILY_ROOT, daily_key
from ticklake_dagster.lake.parts import read_daily
from ticklake_dagster.lake.storage import Lake
from ticklake_dagster.ticks.reading import day_ticks

DEFAULT_MAX_DAYS = 31
DEFAULT_CACHE_BYTES = 64 * 1024 * 1024
DEFAULT_LISTING_TTL_S = 60.0
ENTRY_OVERHEAD = 512  # dict/OrderedDict bookkeeping and the array headers of one cached day


class LakeUnavailable(Exception):
    """The lake could not be listed or read; `reason` is for the server log."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class DayCandles:
    """Candles as columns (CANDLE_COLUMNS: every price side, ticks, spread, volumes), time in unix seconds."""

    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.columns["time"])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    @property
    def nbytes(self) -> int:
        return sum(v.nbytes for v in self.columns.values()) + ENTRY_OVERHEAD

    @classmethod
    def empty(cls) -> "DayCandles":
        return cls({c: np.empty(0, "int64" if c in ("time", "trades") else "float64") for c in CANDLE_COLUMNS})


def build_day(lake: Lake, symbol: str, day: dt.date) -> DayCandles:
    """The compacted day's 5-minute candles, exactly as candles_5m writes them."""
    return candle_columns(build_candles(read_daily(lake.get(daily_key(symbol, day)))))


def candle_columns(candles) -> DayCandles:
    """`build_candles`' frame as columns, time in unix seconds."""
    columns = {c: candles[c].to_numpy(dtype="int64" if c == "trades" else "float64") for c in CANDLE_COLUMNS[1:]}
    return DayCandles({"time": candles["time"].to_numpy(dtype="int64") // 1000, **columns})


def concat(days: list[DayCandles]) -> DayCandles:
    if not days:
        return DayCandles.empty()
    return DayCandles({c: np.concatenate([d[c] for d in days]) for c in CANDLE_COLUMNS})


def rollup(days: list[DayCandles], width_s: int, session: Session | None = None, timeframe: str = "") -> DayCandles:
    """Concatenate days (in time order) and roll 5-minute candles up to `width_s`-second UTC buckets, or to the
    session's bars of `timeframe` (1d, 1w, 1M) when a session is given."""
    c = concat(days)
    if not len(c) or (session is None and width_s == BASE.seconds):
        return c
    if session is not None:
        keys = session_bar_starts(c["time"] * 1000, session, timeframe) // 1000
    else:
        keys = c["time"] // width_s * width_s
    return DayCandles(roll_up(c.columns, keys))


def json_values(array: np.ndarray) -> list:
    """JSON values: NaN (a volume the ticks lacked) as null."""
    return [None if v != v else v for v in array.tolist()]


def to_records(c: DayCandles, start: int, end: int, price: str = "mid") -> list[dict]:
    """Candles with start <= time <= end as the API's JSON objects, `price`'s OHLC as open/high/low/close.

    A candle with a non-finite price (a day compacted before prices were bounded, whose mid overflowed)
    is left out, as the database path does: JSON has no Infinity.
    """
    sides = side_columns(price)
    keep = (c["time"] >= start) & (c["time"] <= end)
    for name in sides:
        keep &= np.isfinite(c[name])
    names = ("time", *OHLC, "trades", "spread_avg", *VOLUMES)
    sources = ("time", *sides, "trades", "spread_avg", *VOLUMES)
    values = [json_values(c[source][keep]) for source in sources]
    return [dict(zip(names, row)) for row in zip(*values)]


class DayCache:
    """Built days, least recently used first out, bounded by their bytes; one build per key at a time."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES):
        self.max_bytes = max_bytes
        self.bytes = 0
        self.builds = 0
        self._entries: collections.OrderedDict = collections.OrderedDict()
        self._pending: dict = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key, build: Callable[[], DayCandles]) -> DayCandles:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                return found
            future = self._pending.get(key)
            owner = future is None
            if owner:
                future = self._pending[key] = Future()
            assert future is not None  # the pending build's, or the one this call owns
        if not owner:
            return future.result()
        try:
            value = build()
        except BaseException as e:
            with self._lock:
                self._pending.pop(key, None)
            future.set_exception(e)
            raise
        with self._lock:
            self.builds += 1
            self._pending.pop(key, None)
            if value.nbytes <= self.max_bytes:
                self._entries[key] = value
                self.bytes += value.nbytes
                while self.bytes > self.max_bytes:
                    _, old = self._entries.popitem(last=False)
                    self.bytes -= old.nbytes
        future.set_result(value)
        return value


class LakeDays:
    """Which days `ticks_daily/` holds per symbol: one listing per symbol, kept for `ttl_s` seconds.

    When a refresh fails the previous listing is kept and used (its days were there a moment ago);
    with no previous listing the failure is raised.
    """

    def __init__(self, lake: Lake, ttl_s: float = DEFAULT_LISTING_TTL_S):
        self.lake = lake
        self.ttl_s = ttl_s
        self._days: dict[str, tuple[float, dict[dt.date, tuple[int, float]]]] = {}
        self._lock = threading.Lock()

    def days(self, symbol: str) -> dict[dt.date, tuple[int, float]]:
        """day -> (size, mtime) of the symbol's compacted days."""
        validate_symbol(symbol)
        now = time.monotonic()
        with self._lock:
            cached = self._days.get(symbol)
        if cached and cached[0] > now:
            return cached[1]
        try:
            found = self._list(symbol)
        except LakeError as e:
            if cached:
                return cached[1]
            raise LakeUnavailable(str(e)) from None
        with self._lock:
            self._days[symbol] = (now + self.ttl_s, found)
        return found

    def _list(self, symbol: str) -> dict[dt.date, tuple[int, float]]:
        prefix = f"{DAILY_ROOT}symbol={symbol}/date="
        found = {}
        for obj in self.lake.list(prefix):
            try:
                day = dt.date.fromisoformat(obj.key[len(prefix) : len(prefix) + 10])
            except ValueError:
                continue
            if obj.key == daily_key(symbol, day):
                found[day] = (obj.size, obj.last_modified)
        return found


class LakeCandles:
    """Candles of lake days for the API: listing, cache, bounded parallel builds, one error type."""

    def __init__(
        self,
        lake: Lake,
        *,
        max_days: int = DEFAULT_MAX_DAYS,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        listing_ttl_s: float = DEFAULT_LISTING_TTL_S,
    ):
        self.lake = lake
        self.max_days = max_days
        self.index = LakeDays(lake, listing_ttl_s)
        self.cache = DayCache(cache_bytes)
        self._pool = ThreadPoolExecutor(
            max_workers=min(8, max(4, lake.fetch_concurrency)), thread_name_prefix="ticklake-lake"
        )

    def days_between(self, symbol: str, first: dt.date, last: dt.date) -> list[dt.date]:
        return sorted(d for d in self.index.days(symbol) if first <= d <= last)

    def span(self, symbol: str) -> tuple[dt.date, dt.date] | None:
        days = self.index.days(symbol)
        return (min(days), max(days)) if days else None

    def day(self, symbol: str, day: dt.date) -> DayCandles:
        size, mtime = self.index.days(symbol).get(day, (None, None))
        try:
            return self.cache.get((symbol, day, size, mtime), lambda: build_day(self.lake, symbol, day))
        except LakeError as e:
            raise LakeUnavailable(str(e)) from None

    def candles(self, symbol: str, days: list[dt.date], width_s: int, timeframe: str = "") -> DayCandles:
        """The days' candles at `width_s` (or the symbol's session bars of a session `timeframe`), every day
        built or none: LakeUnavailable otherwise."""
        if len(days) <= 1:
            built = [self.day(symbol, d) for d in days]
        else:
            built = list(self._pool.map(lambda d: self.day(symbol, d), days))
        session = session_for(symbol) if timeframe in SESSION_TIMEFRAMES else None
        return rollup(built, width_s, session, timeframe)

    def from_ticks(self, symbol: str, day: dt.date, width_s: int) -> DayCandles:
        """The day's candles of `width_s` seconds built from its ticks (compacted, else its raw parts), uncached."""
        try:
            ticks = day_ticks(self.lake, symbol, day)
        except LakeError as e:
            raise LakeUnavailable(str(e)) from None
        return candle_columns(build_candles(ticks, bucket_ms=width_s * 1000))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def utc_day(seconds: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=seconds // 86_400)


def day_seconds(day: dt.date) -> int:
    return day_start_ms(day) // 1000
