"""Ticks read back out of the lake for research: `read_ticks`, importable without Dagster and needing no database.

A day is read from its compacted file (`ticks_daily/`), or, when it has not been compacted yet, from its raw
parts through the same validation and deduplication compaction uses (nothing is written).
"""

import collections
import dataclasses
import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pandas as pd

from ticklake_dagster.core.days import DAY_MS, day_start_ms
from ticklake_dagster.core.errors import InvalidInput
from ticklake_dagster.core.symbols import validate_symbol
from ticklake_dagster.core.timeframes import VOLUMES
from ticklake_dagster.lake.config import LakeConfig
from ticklake_dagster.lake.storage import Lake
from ticklake_dagster.ticks.compaction import compact_day, list_parts, load_compacted

TICK_COLUMNS = ("ts", "bid", "ask", *VOLUMES)
MAX_READ_DAYS = 366 * 50


@dataclasses.dataclass(frozen=True)
class TimeRange:
    """[start_ms, end_ms) and the UTC days it touches."""

    start_ms: int
    end_ms: int

    @property
    def days(self) -> list[dt.date]:
        first = dt.datetime.fromtimestamp(self.start_ms / 1000, dt.timezone.utc).date()
        last = dt.datetime.fromtimestamp((self.end_ms - 1) / 1000, dt.timezone.utc).date()
        return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def _bound(value, name: str) -> tuple[int, bool]:
    """(epoch ms, whether it was a whole day): dates and YYYY-MM-DD are days, datetimes are instants (naive = UTC)."""
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value) if len(value) == 10 else dt.datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInput(f"Invalid {name} {value!r}: expected YYYY-MM-DD or an ISO 8601 time") from None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
        return int(aware.timestamp() * 1000), False
    if isinstance(value, dt.date):
        return day_start_ms(value), True
    raise InvalidInput(f"Invalid {name} {value!r}: expected a date, YYYY-MM-DD or a datetime")


def time_range(start, end=None) -> TimeRange:
    """Dates are inclusive days (`end=None`: the start's day alone); datetimes are [start, end) instants."""
    lo, _ = _bound(start, "start")
    if end is None:
        hi = lo - lo % DAY_MS + DAY_MS
    else:
        hi, whole_day = _bound(end, "end")
        if whole_day:
            hi += DAY_MS
    if hi <= lo:
        raise InvalidInput(f"Invalid range: end {end!r} is not after start {start!r}")
    if (hi - lo) / DAY_MS > MAX_READ_DAYS:
        raise InvalidInput(f"Invalid range: more than {MAX_READ_DAYS} days")
    return TimeRange(lo, hi)


def open_lake(lake_url: str | None = None) -> Lake:
    """The lake the environment configures (TICKLAKE_LAKE_URL, R2_*), or the one `lake_url` names."""
    config = LakeConfig.from_env()
    return (dataclasses.replace(config, url=lake_url) if lake_url else config).get_lake()


def day_ticks(lake: Lake, symbol: str, day: dt.date) -> pd.DataFrame:
    """The day's validated ticks (ts_ms, bid, ask, volumes): the compacted file, else the raw parts cleaned now."""
    ticks = load_compacted(lake, symbol, day)
    if len(ticks) or not list_parts(lake, symbol, day):
        return ticks
    return compact_day(lake, symbol, day, write=False).ticks


def _prefetched(days: list[dt.date], load, ahead: int = 2):
    """(day, load(day)) in order, the next `ahead` days read meanwhile on threads (Parquet decoding and object
    reads release the GIL): a long range reads on every core, holding at most ahead + 1 days."""
    with ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="ticklake-read") as pool:
        pending: collections.deque = collections.deque()
        for day in days:
            pending.append((day, pool.submit(load, day)))
            if len(pending) > ahead:
                first, future = pending.popleft()
                yield first, future.result()
        while pending:
            first, future = pending.popleft()
            yield first, future.result()


def iter_ticks(symbol: str, start, end=None, *, lake_url: str | None = None):
    """(day, ticks of that day within the range) one day at a time: bounded memory for long ranges."""
    symbol = validate_symbol(symbol)
    span = time_range(start, end)
    lake = open_lake(lake_url)
    for day, ticks in _prefetched(span.days, lambda d: day_ticks(lake, symbol, d)):
        if day_start_ms(day) >= span.start_ms and day_start_ms(day) + DAY_MS <= span.end_ms:
            yield day, ticks  # the whole day is inside: no filtering copy
            continue
        ts = ticks["ts_ms"]
        yield day, ticks[(ts >= span.start_ms) & (ts < span.end_ms)]


def read_ticks(symbol: str, start, end=None, *, lake_url: str | None = None, columns=None) -> pd.DataFrame:
    """Validated, deduplicated ticks of `symbol` from `start` to `end`, sorted by time.

    Columns: `ts` (UTC timestamps, ms), `bid`, `ask`, and `bid_volume`/`ask_volume` when the lake has volumes
    for any of the ticks (Dukascopy imports do; a live feed's parts may not). `columns` picks some of them.
    """
    days = [ticks for _, ticks in iter_ticks(symbol, start, end, lake_url=lake_url)]
    raw = pd.concat(days, ignore_index=True) if days else pd.DataFrame(columns=["ts_ms", "bid", "ask", *VOLUMES])
    # copies: the day frames may be read-only views of Arrow memory, the caller's frame is theirs to edit
    ms = raw["ts_ms"].to_numpy(dtype="int64", copy=True).view("datetime64[ms]")
    out = pd.DataFrame({"ts": pd.Series(ms).dt.tz_localize("UTC")})
    out["bid"] = raw["bid"].to_numpy(dtype="float64", copy=True)
    out["ask"] = raw["ask"].to_numpy(dtype="float64", copy=True)
    for name in VOLUMES:
        if name in raw and raw[name].notna().any():
            out[name] = raw[name].to_numpy(dtype="float64", copy=True)
    if columns is not None:
        unknown = [c for c in columns if c not in TICK_COLUMNS]
        if unknown:
            raise InvalidInput(f"Invalid columns {unknown}: expected some of {', '.join(TICK_COLUMNS)}")
        out = out[[c for c in columns if c in out.columns]]
    return out
