"""Lake key layout, a public interface that DuckDB/Polars users read directly.

Raw parts:      ticks/{SYMBOL}/{YYYY}/{MM}/{DD}/part-{epoch_ms}-{suffix}.parquet   (legacy: .json)
Compacted days: ticks_daily/symbol={SYMBOL}/date={YYYY-MM-DD}/ticks.parquet
"""

import datetime as dt
import re
import secrets

from ticklake_dagster.core.symbols import is_valid_symbol, validate_symbol

RAW_ROOT = "ticks/"
DAILY_ROOT = "ticks_daily/"
PART_EXTENSIONS = (".parquet", ".json")
# Parts written by `ticklake seed-demo` and `ticklake import dukascopy`: history, not a live feed.
DEMO_PART_SUFFIX = "demo"
DUKASCOPY_PART_SUFFIX = "dukascopy"
NOT_LIVE_SUFFIXES = frozenset((DEMO_PART_SUFFIX, DUKASCOPY_PART_SUFFIX))

_RAW_PART_RE = re.compile(
    r"^ticks/(?P<symbol>[^/]+)/(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/(?P<name>part-[^/]+\.(?:parquet|json))$"
)
_PART_START_RE = re.compile(r"/part-(\d+)-([A-Za-z0-9_-]{1,64})\.(?:parquet|json)$")


def raw_day_prefix(symbol: str, day: dt.date) -> str:
    """`ticks/EURUSD/2025/11/13/`: every raw part of one symbol-day lies under it."""
    validate_symbol(symbol)
    return f"{RAW_ROOT}{symbol}/{day:%Y/%m/%d}/"


def raw_symbol_prefix(symbol: str) -> str:
    validate_symbol(symbol)
    return f"{RAW_ROOT}{symbol}/"


def raw_part_key(symbol: str, day: dt.date, first_tick_ms: int, suffix: str | None = None) -> str:
    """A new part's key; the random suffix keeps two writers from ever colliding."""
    suffix = suffix or secrets.token_hex(6)
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", suffix):
        raise ValueError(f"bad part suffix {suffix!r}")
    return f"{raw_day_prefix(symbol, day)}part-{first_tick_ms:013d}-{suffix}.parquet"


def part_suffix(key: str) -> str | None:
    """The suffix raw_part_key put in a part's name (`part-{ms}-{suffix}.parquet`); None for other names."""
    m = _PART_START_RE.search(key)
    return m[2] if m else None


def is_live_part(key: str) -> bool:
    """Whether a part came from a live feed (the ingester), not from the demo seeder or a history import."""
    return part_suffix(key) not in NOT_LIVE_SUFFIXES


def is_part_name(name: str) -> bool:
    """Whether a file name inside a day folder is a raw part (`part-….parquet` or legacy `part-….json`)."""
    return name.startswith("part-") and "/" not in name and name.endswith(PART_EXTENSIONS)


def part_start_ms(key: str) -> int | None:
    """The first tick's epoch ms that raw_part_key put in a part's name; None for other names (legacy parts)."""
    m = _PART_START_RE.search(key)
    return int(m[1]) if m else None


def daily_key(symbol: str, day: dt.date) -> str:
    validate_symbol(symbol)
    return f"{DAILY_ROOT}symbol={symbol}/date={day:%Y-%m-%d}/ticks.parquet"


def parse_raw_part_key(key: str) -> tuple[str, dt.date] | None:
    """(symbol, day) of a raw part key, or None for anything that is not a well-formed part."""
    m = _RAW_PART_RE.match(key)
    if not m:
        return None
    if not is_valid_symbol(m["symbol"]):
        return None
    try:
        return m["symbol"], dt.date(int(m["y"]), int(m["m"]), int(m["d"]))
    except ValueError:
        return None
