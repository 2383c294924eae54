"""The lake sensor's scan: which symbol-days got raw parts since the last tick, without listing the whole lake.

A sensor tick times out after 60 s, so each scan
1. lists `ticks/` one level deep to find symbols,
2. tails the live days (today and yesterday) of every symbol with `start_after` the last key seen,
   so an unchanged day costs one request, however many parts it holds,
3. advances a bounded sweep over every symbol's keys (`sensor_sweep_keys` per tick, resumed from the cursor),
   which notices late parts for any older day: a part is new when it was modified after the previous
   full pass over that symbol started. A symbol never swept before compares against Dagster instead:
   its days that have parts but were never materialized are new. A symbol's next pass starts no sooner
   than `sensor_sweep_minutes` after its last one finished: late parts for old days can wait that long,
   and on a lake smaller than the budget an unpaced sweep would re-list every key every tick.
"""

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from typing import Protocol

from ticklake_dagster.core.days import SymbolDay
from ticklake_dagster.core.symbols import is_valid_symbol
from ticklake_dagster.lake.keys import (
    RAW_ROOT,
    is_live_part,
    parse_raw_part_key,
    part_start_ms,
    raw_day_prefix,
    raw_symbol_prefix,
)
from ticklake_dagster.lake.storage import Lake

# How often the lake sensor ticks: its listing is most of a small lake's bill (`ticklake lake stats` prices it).
LAKE_SENSOR_INTERVAL_SECONDS = 30


class ScanSettings(Protocol):
    """The four sensor settings a scan reads (the deployment's `TicklakeSettings` resource has them)."""

    sensor_live_days: int
    sensor_sweep_keys: int
    sensor_sweep_minutes: float
    sensor_skew_seconds: float


def lake_symbols(lake: Lake) -> list[str]:
    """Symbols that have raw parts in the lake (folder names that pass the symbol rule)."""
    names = [p[len(RAW_ROOT) :].rstrip("/") for p in lake.list_dirs(RAW_ROOT)]
    return [n for n in names if is_valid_symbol(n)]


@dataclasses.dataclass
class LakeCursor:
    """Everything the lake sensor remembers between ticks (JSON in Dagster's sensor cursor)."""

    tails: dict[str, str] = dataclasses.field(default_factory=dict)  # "SYM/YYYY-MM-DD" -> last key seen
    sweep_symbol: str | None = None
    sweep_after: str | None = None  # last key the sweep read in sweep_symbol
    pass_started: dict[str, float] = dataclasses.field(default_factory=dict)  # symbol -> start of current pass
    pass_previous: dict[str, float] = dataclasses.field(default_factory=dict)  # symbol -> start of last complete pass
    pass_finished: dict[str, float] = dataclasses.field(default_factory=dict)  # symbol -> end of last complete pass
    dirty: dict[str, float] = dataclasses.field(default_factory=dict)  # partition -> newest unrequested part mtime
    # partition -> [last request time, newest part mtime known then]
    requested: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    newest_part_ms: dict[str, int] = dataclasses.field(default_factory=dict)  # symbol -> first tick of its newest part
    stale: dict[str, str] = dataclasses.field(
        default_factory=dict
    )  # symbol -> partition its stale feed was reported on

    @classmethod
    def from_json(cls, text: str | None) -> "LakeCursor":
        if not text:
            return cls()
        data = json.loads(text)
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True, separators=(",", ":"))


@dataclasses.dataclass
class LakeScan:
    symbols: list[str]
    new_parts: dict[SymbolDay, float]  # symbol-day -> newest new part's mtime
    swept_only: set[SymbolDay]  # found by mtime alone (the sweep), not as a key never listed before (the tail)
    keys_listed: int
    ignored_keys: int
    pass_completed: list[str]


def scan_lake(
    lake: Lake, cursor: LakeCursor, now: float, settings: ScanSettings, materialized: Callable[[], set[SymbolDay]]
) -> LakeScan:
    """Find symbol-days with parts the cursor has not accounted for; updates `cursor` in place.

    `materialized()` returns the symbol-days r2_ticks has materialized (asked only for never-swept symbols).
    """
    symbols = lake_symbols(lake)
    found: dict[SymbolDay, float] = {}
    tailed: set[SymbolDay] = set()
    listed = ignored = 0

    def note(key: str, mtime: float, tail: bool = False) -> bool:
        nonlocal ignored
        parsed = parse_raw_part_key(key)
        if parsed is None:
            ignored += 1
            return False
        found[parsed] = max(found.get(parsed, 0.0), mtime)
        if tail:
            tailed.add(parsed)
        return True

    today = dt.datetime.fromtimestamp(now, dt.timezone.utc).date()
    live = [today - dt.timedelta(days=i) for i in range(settings.sensor_live_days)]
    live_ids = set()
    symbol: str | None  # each live symbol, then each one swept (None: none is due)
    for symbol in symbols:
        for day in live:
            tail_id = f"{symbol}/{day}"
            live_ids.add(tail_id)
            last = None
            for obj in lake.list(raw_day_prefix(symbol, day), start_after=cursor.tails.get(tail_id)):
                listed += 1
                last = obj.key
                note(obj.key, obj.last_modified, tail=True)
            if last:
                cursor.tails[tail_id] = last
                # the feed watch follows live parts only: a seeded demo or an import is no feed to go stale
                started = part_start_ms(last) if is_live_part(last) else None
                if started is not None and started > cursor.newest_part_ms.get(symbol, 0):
                    cursor.newest_part_ms[symbol] = started
    cursor.tails = {k: v for k, v in cursor.tails.items() if k in live_ids}

    completed = []
    budget = settings.sensor_sweep_keys
    materialized_days: set[SymbolDay] | None = None
    visited: set[str] = set()
    interval = settings.sensor_sweep_minutes * 60

    def due(symbol: str) -> bool:
        return symbol in cursor.pass_started or now - cursor.pass_finished.get(symbol, float("-inf")) >= interval

    while budget > 0 and symbols:
        symbol = _sweep_symbol(cursor, symbols, due)
        if symbol is None or symbol in visited:
            break  # no pass is due, or every symbol finished one this tick (the lake is smaller than the budget)
        visited.add(symbol)
        cursor.pass_started.setdefault(symbol, now)
        previous = cursor.pass_previous.get(symbol)
        if previous is None and materialized_days is None:
            materialized_days = materialized()
        exhausted = True
        for obj in lake.list(raw_symbol_prefix(symbol), start_after=cursor.sweep_after):
            listed += 1
            budget -= 1
            cursor.sweep_after = obj.key
            parsed = parse_raw_part_key(obj.key)
            if parsed is None:
                ignored += 1
            elif previous is None:
                assert materialized_days is not None  # asked for above, when previous is None
                if parsed not in materialized_days:
                    note(obj.key, obj.last_modified)
            elif obj.last_modified > previous - settings.sensor_skew_seconds:
                note(obj.key, obj.last_modified)
            if budget <= 0:
                exhausted = False
                break
        if exhausted:
            cursor.pass_previous[symbol] = cursor.pass_started.pop(symbol)
            cursor.pass_finished[symbol] = now
            completed.append(symbol)
            cursor.sweep_symbol, cursor.sweep_after = _next_symbol(cursor, symbols, symbol), None
    for gone in set(cursor.pass_previous) - set(symbols):
        cursor.pass_previous.pop(gone)
    cursor.pass_finished = {s: t for s, t in cursor.pass_finished.items() if s in cursor.pass_previous}
    return LakeScan(symbols, found, set(found) - tailed, listed, ignored, completed)


def _sweep_symbol(cursor: LakeCursor, symbols: list[str], due: Callable[[str], bool]) -> str | None:
    """The symbol to sweep now: a never-swept one (a new symbol's history), else the next one due; None if none is."""
    never = [s for s in symbols if s not in cursor.pass_previous]
    current = cursor.sweep_symbol
    if current in symbols and due(current) and (current not in cursor.pass_previous or not never):
        return current
    chosen: str | None
    if never:
        chosen = never[0]
    else:
        rotation = [s for s in symbols if current is None or s > current] + [
            s for s in symbols if current is not None and s <= current
        ]
        chosen = next((s for s in rotation if due(s)), None)
        if chosen is None:
            return None
    if chosen != current:
        cursor.sweep_symbol, cursor.sweep_after = chosen, None
    return chosen


def _next_symbol(cursor: LakeCursor, symbols: list[str], done: str) -> str:
    never = [s for s in symbols if s not in cursor.pass_previous]
    if never:
        return never[0]
    later = [s for s in symbols if s > done]
    return later[0] if later else symbols[0]
