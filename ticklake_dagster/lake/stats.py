"""What the lake holds, per symbol: coverage, objects, bytes and ticks, from listings and Parquet footers only.

Listing costs one request per 1,000 keys (ListObjectsV2 pages; no per-object HEAD). Ticks come from
Parquet footers (a ranged GET of each file's tail): a compacted day's footer counts its clean ticks, and
only days not compacted yet (or with raw parts newer than their compacted file) have their raw parts'
footers read. Legacy JSON parts carry no footer: on such days their ticks are estimated from their size at
JSON_BYTES_PER_TICK and reported as estimated.
"""

import dataclasses
import datetime as dt
import math
import struct
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pyarrow.parquet as pq

from ticklake_dagster.core.days import iso_ms
from ticklake_dagster.core.errors import LakeError
from ticklake_dagster.core.sessions import trades_on
from ticklake_dagster.core.symbols import is_valid_symbol, validate_symbol
from ticklake_dagster.lake.costs import JSON_BYTES_PER_TICK
from ticklake_dagster.lake.keys import DAILY_ROOT, RAW_ROOT, daily_key, parse_raw_part_key, raw_day_prefix
from ticklake_dagster.lake.storage import Lake, LakeObject

LIST_PAGE = 1000  # keys per ListObjectsV2 answer (S3 and R2)
FOOTER_GUESS = 16 * 1024  # tail bytes fetched first: a ticklake footer is ~1 KB
RATE_DAYS = 7
PROGRESS_EVERY = 10_000

Progress = Callable[[int, int], None]  # (objects listed, list requests so far)


@dataclasses.dataclass
class Footer:
    rows: int
    first_ms: int | None
    last_ms: int | None


@dataclasses.dataclass
class DayObjects:
    raw_parts: int = 0
    raw_bytes: int = 0
    json_parts: int = 0
    json_bytes: int = 0
    raw_newest: float = 0.0
    parquet_keys: list[str] = dataclasses.field(default_factory=list)
    compacted_bytes: int | None = None
    compacted_mtime: float = 0.0

    @property
    def stale(self) -> bool:
        """Raw parts not compacted yet: no compacted file, or a part written after it."""
        return self.raw_parts > 0 and (self.compacted_bytes is None or self.raw_newest > self.compacted_mtime)


@dataclasses.dataclass
class GapRange:
    first: dt.date
    last: dt.date
    open_days: int

    def __str__(self) -> str:
        span = str(self.first) if self.first == self.last else f"{self.first}..{self.last}"
        return f"{span} ({self.open_days} open day{'s' if self.open_days != 1 else ''})"


@dataclasses.dataclass
class SymbolStats:
    symbol: str
    days_with_data: int = 0
    first_tick_ms: int | None = None
    last_tick_ms: int | None = None
    raw_parts: int = 0
    json_parts: int = 0
    compacted_days: int = 0
    raw_bytes: int = 0
    compacted_bytes: int = 0
    ticks: int = 0
    ticks_estimated: int = 0  # part of `ticks` estimated from legacy JSON part sizes
    parts_per_day: float = 0.0  # raw parts per day over the last RATE_DAYS days
    gaps: list[GapRange] = dataclasses.field(default_factory=list)
    uncompacted: list[dt.date] = dataclasses.field(default_factory=list)

    @property
    def objects(self) -> int:
        return self.raw_parts + self.compacted_days

    @property
    def total_bytes(self) -> int:
        return self.raw_bytes + self.compacted_bytes

    @property
    def bytes_per_tick(self) -> float | None:
        return self.total_bytes / self.ticks if self.ticks else None

    @property
    def gap_days(self) -> int:
        return sum(g.open_days for g in self.gaps)

    def as_dict(self) -> dict:
        return {
            "symbol": self.symbol,
            "days_with_data": self.days_with_data,
            "first_tick": iso_ms(self.first_tick_ms),
            "last_tick": iso_ms(self.last_tick_ms),
            "raw_parts": self.raw_parts,
            "json_parts": self.json_parts,
            "compacted_days": self.compacted_days,
            "objects": self.objects,
            "raw_bytes": self.raw_bytes,
            "compacted_bytes": self.compacted_bytes,
            "total_bytes": self.total_bytes,
            "ticks": self.ticks,
            "ticks_estimated": self.ticks_estimated,
            "bytes_per_tick": self.bytes_per_tick,
            "parts_per_day": self.parts_per_day,
            "gap_days": self.gap_days,
            "gaps": [{"first": str(g.first), "last": str(g.last), "open_days": g.open_days} for g in self.gaps],
            "uncompacted": [str(d) for d in self.uncompacted],
        }


@dataclasses.dataclass
class LakeStats:
    lake: str
    today: dt.date
    first: dt.date | None
    last: dt.date | None
    symbols: list[SymbolStats]
    list_requests: int
    footer_reads: int
    raw_keys: int  # every raw key listed (the sensor's sweep walks these)

    @property
    def total(self) -> SymbolStats:
        t = SymbolStats("TOTAL")
        for s in self.symbols:
            for f in (
                "days_with_data",
                "raw_parts",
                "json_parts",
                "compacted_days",
                "raw_bytes",
                "compacted_bytes",
                "ticks",
                "ticks_estimated",
                "parts_per_day",
            ):
                setattr(t, f, getattr(t, f) + getattr(s, f))
            t.gaps += s.gaps
            t.uncompacted += s.uncompacted
        firsts = [s.first_tick_ms for s in self.symbols if s.first_tick_ms is not None]
        lasts = [s.last_tick_ms for s in self.symbols if s.last_tick_ms is not None]
        t.first_tick_ms, t.last_tick_ms = (min(firsts) if firsts else None), (max(lasts) if lasts else None)
        return t

    def as_dict(self) -> dict:
        return {
            "lake": self.lake,
            "today": str(self.today),
            "from": _text(self.first),
            "to": _text(self.last),
            "symbols": [s.as_dict() for s in self.symbols],
            "total": self.total.as_dict(),
            "list_requests": self.list_requests,
            "footer_reads": self.footer_reads,
        }


def _text(day: dt.date | None) -> str | None:
    return None if day is None else str(day)


def parse_footer(tail: bytes, size: int) -> Footer | int:
    """Row count and ts range from a Parquet file's tail; the tail length needed when `tail` is too short."""
    if len(tail) < 8 or tail[-4:] != b"PAR1":
        raise ValueError("not a Parquet file (no PAR1 footer)")
    needed = struct.unpack("<I", tail[-8:-4])[0] + 8
    if needed > size:
        raise ValueError("Parquet footer longer than the file")
    if needed > len(tail):
        return needed
    # read_metadata only reads the footer; the leading magic stands in for the data it never touches.
    meta = pq.read_metadata(pa.BufferReader(b"PAR1" + tail[-needed:]))
    first = last = None
    names = meta.schema.names
    if "ts" in names:
        col = names.index("ts")
        for i in range(meta.num_row_groups):
            st = meta.row_group(i).column(col).statistics
            if st is not None and st.has_min_max and st.physical_type == "INT64":
                lo, hi = _as_int(st.min_raw), _as_int(st.max_raw)
                first = lo if first is None else min(first, lo)
                last = hi if last is None else max(last, hi)
        unit = meta.schema.to_arrow_schema().field("ts").type
        if first is not None and pa.types.is_timestamp(unit) and unit.unit != "ms":
            div = {"s": 1 / 1000, "us": 1000, "ns": 1_000_000}[unit.unit]
            assert last is not None  # set together with first
            first, last = int(first // div), int(last // div)
    return Footer(meta.num_rows, first, last)


def _as_int(v) -> int:
    return v if isinstance(v, int) else int.from_bytes(v, "little", signed=True)


def read_footer(lake: Lake, key: str) -> tuple[Footer, int]:
    """The footer of one Parquet object and the GETs it took (one, two when the footer is unusually long)."""
    tail, size = lake.get_tail(key, FOOTER_GUESS)
    try:
        found = parse_footer(tail, size)
        if isinstance(found, int):
            tail, size = lake.get_tail(key, found)
            footer = parse_footer(tail, size)
            assert isinstance(footer, Footer)  # the tail now holds the whole footer
            return footer, 2
        return found, 1
    except (ValueError, OSError, pa.ArrowException) as e:
        raise LakeError(f"Unreadable Parquet footer in {key}: {str(e).splitlines()[0][:200]}") from None


class _Lister:
    """Lists prefixes and counts the requests S3 would need (one per 1,000 keys, one for an empty answer)."""

    def __init__(self, lake: Lake, progress: Progress | None):
        self.lake = lake
        self.progress = progress
        self.requests = 0
        self.objects = 0

    def keys(self, prefix: str) -> Iterable[LakeObject]:
        n = 0
        for obj in self.lake.list(prefix):
            n += 1
            self.objects += 1
            if n % LIST_PAGE == 1:
                self.requests += 1
            if self.progress and self.objects % PROGRESS_EVERY == 0:
                self.progress(self.objects, self.requests)
            yield obj
        if n == 0:
            self.requests += 1

    def dirs(self, prefix: str) -> list[str]:
        found = self.lake.list_dirs(prefix)
        self.requests += max(1, math.ceil(len(found) / LIST_PAGE))
        return found


def lake_symbols(lister: _Lister) -> list[str]:
    """Symbols with raw parts or compacted days."""
    raw = {d[len(RAW_ROOT) : -1] for d in lister.dirs(RAW_ROOT)}
    daily = {
        d[len(DAILY_ROOT) + len("symbol=") : -1]
        for d in lister.dirs(DAILY_ROOT)
        if d.startswith(f"{DAILY_ROOT}symbol=")
    }
    return sorted(s for s in raw | daily if is_valid_symbol(s))


def _months(first: dt.date, last: dt.date) -> list[dt.date]:
    out, month = [], first.replace(day=1)
    while month <= last:
        out.append(month)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return out


def _list_symbol(
    lister: _Lister, symbol: str, first: dt.date | None, last: dt.date | None, today: dt.date
) -> tuple[dict[dt.date, DayObjects], float, int]:
    """The symbol's raw parts and compacted days in [first, last], its parts per day over the last
    RATE_DAYS days (listed even when the window ends earlier), and how many raw keys were listed."""
    days: dict[dt.date, DayObjects] = {}
    rate_first = today - dt.timedelta(days=RATE_DAYS)
    if first is None and last is None:
        raw_prefixes = [f"{RAW_ROOT}{symbol}/"]
        daily_prefixes = [f"{DAILY_ROOT}symbol={symbol}/"]
    else:
        lo = first or dt.date(1970, 1, 1)
        hi = last or today
        months = _months(lo, hi) if (hi - lo).days < 3660 else None
        raw_prefixes = [f"{RAW_ROOT}{symbol}/{m:%Y/%m}/" for m in months] if months else [f"{RAW_ROOT}{symbol}/"]
        daily_prefixes = (
            [f"{DAILY_ROOT}symbol={symbol}/date={m:%Y-%m}-" for m in months]
            if months
            else [f"{DAILY_ROOT}symbol={symbol}/"]
        )
        # the write rate needs the last days even when the window ends earlier
        listed_months = set(months or [])
        extra = [
            d
            for d in (rate_first + dt.timedelta(days=i) for i in range(RATE_DAYS))
            if months is not None and d.replace(day=1) not in listed_months
        ]
        raw_prefixes += [raw_day_prefix(symbol, d) for d in extra]

    def wanted(day: dt.date) -> bool:
        return (first is None or day >= first) and (last is None or day <= last)

    day: dt.date | None  # a raw part's day, then a compacted day's (None: not one)
    for prefix in raw_prefixes:
        for obj in lister.keys(prefix):
            parsed = parse_raw_part_key(obj.key)
            if parsed is None or parsed[0] != symbol:
                continue
            day = parsed[1]
            facts = days.setdefault(day, DayObjects())
            facts.raw_parts += 1
            facts.raw_bytes += obj.size
            facts.raw_newest = max(facts.raw_newest, obj.last_modified)
            if obj.key.endswith(".json"):
                facts.json_parts += 1
                facts.json_bytes += obj.size
            else:
                facts.parquet_keys.append(obj.key)
    for prefix in daily_prefixes:
        for obj in lister.keys(prefix):
            day = _daily_day(symbol, obj.key)
            if day is None:
                continue
            facts = days.setdefault(day, DayObjects())
            facts.compacted_bytes = obj.size
            facts.compacted_mtime = obj.last_modified
    rate = sum(days[d].raw_parts for d in days if rate_first <= d < today) / RATE_DAYS
    raw_keys = sum(f.raw_parts for f in days.values())
    return {d: f for d, f in days.items() if wanted(d)}, rate, raw_keys


def _daily_day(symbol: str, key: str) -> dt.date | None:
    prefix = f"{DAILY_ROOT}symbol={symbol}/date="
    if not key.startswith(prefix) or not key.endswith("/ticks.parquet"):
        return None
    try:
        day = dt.date.fromisoformat(key[len(prefix) : len(prefix) + 10])
    except ValueError:
        return None
    return day if key == daily_key(symbol, day) else None


def coverage_gaps(symbol: str, have: set[dt.date], first: dt.date, last: dt.date) -> list[GapRange]:
    """Days in [first, last] when the market was open and the lake has nothing, as ranges.

    A range runs across closed days (an FX weekend between two missing weeks is one range); closed
    days themselves are never gaps.
    """
    gaps: list[GapRange] = []
    day = first
    while day <= last:
        if trades_on(symbol, day) and day not in have:
            if gaps and gaps[-1].last == _previous_open(symbol, day, gaps[-1].last):
                gaps[-1].last = day
                gaps[-1].open_days += 1
            else:
                gaps.append(GapRange(day, day, 1))
        day += dt.timedelta(days=1)
    return gaps


def _previous_open(symbol: str, day: dt.date, floor: dt.date) -> dt.date | None:
    d = day - dt.timedelta(days=1)
    while d >= floor:
        if trades_on(symbol, d):
            return d
        d -= dt.timedelta(days=1)
    return None


def collect_stats(
    lake: Lake,
    *,
    symbols: list[str] | None = None,
    first: dt.date | None = None,
    last: dt.date | None = None,
    today: dt.date | None = None,
    progress: Progress | None = None,
) -> LakeStats:
    """List the lake (whole, or a symbol / a day window) and read the footers the figures need."""
    today = today or dt.datetime.now(dt.timezone.utc).date()
    lister = _Lister(lake, progress)
    names = [validate_symbol(s) for s in symbols] if symbols else lake_symbols(lister)
    listed = {symbol: _list_symbol(lister, symbol, first, last, today) for symbol in names}

    footer_keys: list[str] = []
    for symbol, (days, _, _) in listed.items():
        for day, facts in days.items():
            if facts.stale:
                footer_keys += facts.parquet_keys
            elif facts.compacted_bytes is not None:
                footer_keys.append(daily_key(symbol, day))
    footers, reads = _read_footers(lake, footer_keys)

    out = []
    for symbol, (days, rate, _) in listed.items():
        s = SymbolStats(symbol, parts_per_day=rate)
        for day in sorted(days):
            facts = days[day]
            s.raw_parts += facts.raw_parts
            s.json_parts += facts.json_parts
            s.raw_bytes += facts.raw_bytes
            if facts.compacted_bytes is not None:
                s.compacted_days += 1
                s.compacted_bytes += facts.compacted_bytes
            if facts.stale:
                s.uncompacted.append(day)
                used = [footers[k] for k in facts.parquet_keys]
                estimated = round(facts.json_bytes / JSON_BYTES_PER_TICK)
                s.ticks_estimated += estimated
                s.ticks += estimated
            else:
                used = [footers[daily_key(symbol, day)]] if facts.compacted_bytes is not None else []
            s.ticks += sum(f.rows for f in used)
            if facts.raw_parts or any(f.rows for f in used):
                s.days_with_data += 1
            for f in used:
                if f.rows and f.first_ms is not None and f.last_ms is not None:
                    s.first_tick_ms = f.first_ms if s.first_tick_ms is None else min(s.first_tick_ms, f.first_ms)
                    s.last_tick_ms = f.last_ms if s.last_tick_ms is None else max(s.last_tick_ms, f.last_ms)
        have = {d for d, f in days.items() if f.raw_parts or f.compacted_bytes is not None}
        window_first = first or (min(have) if have else None)
        window_last = last or today - dt.timedelta(days=1)
        if window_first is not None:
            s.gaps = coverage_gaps(symbol, have, window_first, window_last)
        out.append(s)
    raw_keys = sum(n for _, _, n in listed.values())
    return LakeStats(lake.describe(), today, first, last, out, lister.requests, reads, raw_keys)


def _read_footers(lake: Lake, keys: list[str]) -> tuple[dict[str, Footer], int]:
    if not keys:
        return {}, 0
    workers = min(lake.fetch_concurrency, len(keys))
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(lambda k: read_footer(lake, k), keys))
    else:
        results = [read_footer(lake, k) for k in keys]
    return {k: f for k, (f, _) in zip(keys, results)}, sum(n for _, n in results)


def recent_gaps(stats: SymbolStats, today: dt.date, days: int = RATE_DAYS) -> list[GapRange]:
    """The symbol's uncovered open-market days among the last `days` full days."""
    since = today - dt.timedelta(days=days)
    out = []
    for g in stats.gaps:
        if g.last < since:
            continue
        lo = max(g.first, since)
        n = sum(1 for i in range((g.last - lo).days + 1) if trades_on(stats.symbol, lo + dt.timedelta(days=i)))
        if n:
            out.append(GapRange(lo, g.last, n))
    return out
