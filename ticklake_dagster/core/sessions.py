"""Market sessions: when each symbol's market is open, the one table every "was the market open?" asks.

The completeness verdict of a day (ticks, closed, or a hole), the gaps and freshness checks, the coverage
report, the sensor's scan, the API's lake fallback and the demo generator all read it.

- FX and metals: Sunday 17:00 to Friday 17:00 America/New_York, the trade date rolling at 17:00 New York.
  `zoneinfo` carries the DST rules (the IANA database, via the `tzdata` package where the system has none),
  so the UTC close is 21:00 in the northern summer and 22:00 in winter without a table of dates. Calendar
  libraries (pandas_market_calendars, exchange_calendars) model exchanges, not the 24/5 FX week.
- Crypto: 24/7, UTC trade dates.
- Anything else: `TICKLAKE_SESSIONS`, e.g. `US500=America/New_York mon-fri 09:30-16:00, DOGEUSD=crypto`.

Holidays close a whole trade date (`TICKLAKE_MARKET_HOLIDAYS`, e.g. `fx=12-25 01-01, EURUSD=2026-04-03`,
keyed by symbol or asset class; `MM-DD` repeats every year). For FX, trade date D is 17:00 New York on
D-1 to 17:00 on D, so a closed Christmas still leaves its UTC day's last hours open (the market reopens).
Ticks outside the hours are accepted; they are just not required.
"""

import dataclasses
import datetime as dt
import functools
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ticklake_dagster.core.days import DAY_MS, day_of_ms, day_start_ms
from ticklake_dagster.core.errors import InvalidInput
from ticklake_dagster.core.settings import get

SESSIONS_ENV = "TICKLAKE_SESSIONS"
HOLIDAYS_ENV = "TICKLAKE_MARKET_HOLIDAYS"

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Symbols whose base (or quote) names one of these trade around the clock; metals trade the FX week.
CRYPTO_BASES = (
    "BTC", "ETH", "SOL", "XRP", "LTC", "ADA", "DOGE", "DOT", "BCH", "LINK", "AVAX", "BNB", "TRX", "XLM",
    "UNI", "MATIC", "USDT", "USDC",
)  # fmt: skip
CRYPTO_QUOTES = ("USDT", "USDC")
METALS = ("XAU", "XAG", "XPT", "XPD")

# A weekly open interval: (open weekday, open time, close weekday, close time), local to the session's zone.
Interval = tuple[int, dt.time, int, dt.time]


@dataclasses.dataclass(frozen=True)
class Session:
    """A market's weekly hours in its own time zone; `weekly=None` means always open."""

    name: str
    zone: str
    weekly: tuple[Interval, ...] | None
    roll: dt.time = dt.time(0)  # a trade date starts at this local time (on the day before, unless midnight)

    def trade_date_bounds(self, date: dt.date) -> tuple[int, int]:
        """[start, end) epoch ms of trade date `date` (FX: 17:00 New York the day before, to 17:00 on it)."""
        return self._local_ms(_trade_start(date, self.roll)), self._local_ms(_trade_start(date + _DAY, self.roll))

    def open_spans(self, start_ms: int, end_ms: int) -> list[tuple[int, int]]:
        """The weekly hours inside [start_ms, end_ms), holidays not applied."""
        if self.weekly is None:
            return [(start_ms, end_ms)]
        zone = ZoneInfo(self.zone)
        first = dt.datetime.fromtimestamp(start_ms / 1000, zone).date() - dt.timedelta(days=7)
        last = dt.datetime.fromtimestamp(end_ms / 1000, zone).date()
        spans = []
        for i in range((last - first).days + 1):
            date = first + dt.timedelta(days=i)
            for open_wd, open_t, close_wd, close_t in self.weekly:
                if date.weekday() != open_wd:
                    continue
                days = (close_wd - open_wd) % 7 or (7 if close_t <= open_t else 0)
                lo = self._local_ms(dt.datetime.combine(date, open_t))
                hi = self._local_ms(dt.datetime.combine(date + dt.timedelta(days=days), close_t))
                lo, hi = max(lo, start_ms), min(hi, end_ms)
                if lo < hi:
                    spans.append((lo, hi))
        return _merged(spans)

    def _local_ms(self, local: dt.datetime) -> int:
        return int(local.replace(tzinfo=ZoneInfo(self.zone)).timestamp() * 1000)


_DAY = dt.timedelta(days=1)
FX_SESSION = Session("fx", "America/New_York", ((6, dt.time(17), 4, dt.time(17)),), roll=dt.time(17))
CRYPTO_SESSION = Session("crypto", "UTC", None)
BUILT_IN = {"fx": FX_SESSION, "metals": FX_SESSION, "crypto": CRYPTO_SESSION}


def _trade_start(date: dt.date, roll: dt.time) -> dt.datetime:
    return dt.datetime.combine(date - _DAY if roll != dt.time(0) else date, roll)


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(spans):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _minus(spans: list[tuple[int, int]], cut: tuple[int, int]) -> list[tuple[int, int]]:
    out = []
    for lo, hi in spans:
        if cut[1] <= lo or hi <= cut[0]:
            out.append((lo, hi))
            continue
        if lo < cut[0]:
            out.append((lo, cut[0]))
        if cut[1] < hi:
            out.append((cut[1], hi))
    return out


# --- configuration ----------------------------------------------------------------------------------


def parse_session(text: str, where: str = SESSIONS_ENV) -> Session:
    """`fx`, `metals`, `crypto`, or `ZONE DAYS HH:MM-HH:MM` (DAYS: `mon-fri` or `mon,wed,fri`)."""
    text = text.strip()
    if text.lower() in BUILT_IN:
        return BUILT_IN[text.lower()]
    words = text.split()
    if len(words) != 3:
        raise InvalidInput(f"Invalid {where} session {text!r}: expected fx, crypto or 'ZONE mon-fri HH:MM-HH:MM'")
    zone, days_text, hours = words
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"Invalid {where} session {text!r}: unknown time zone {zone!r}") from None
    days = _weekdays(days_text, text, where)
    try:
        open_text, close_text = hours.split("-")
        open_t, close_t = dt.time.fromisoformat(open_text), dt.time.fromisoformat(close_text)
    except ValueError:
        raise InvalidInput(f"Invalid {where} session {text!r}: hours must be HH:MM-HH:MM") from None
    close_day = 0 if close_t > open_t else 1  # a session past local midnight closes the next day
    return Session(text, zone, tuple((d, open_t, (d + close_day) % 7, close_t) for d in days))


def _weekdays(text: str, spec: str, where: str) -> list[int]:
    try:
        if "-" in text:
            lo, hi = (WEEKDAYS.index(p) for p in text.lower().split("-"))
            return [(lo + i) % 7 for i in range((hi - lo) % 7 + 1)]
        return [WEEKDAYS.index(p) for p in text.lower().split(",")]
    except ValueError:
        raise InvalidInput(f"Invalid {where} session {spec!r}: days must be like mon-fri or mon,wed") from None


@functools.lru_cache(maxsize=8)
def _configured_sessions(text: str) -> dict[str, Session]:
    out = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        symbol, sep, spec = item.partition("=")
        if not sep or not symbol.strip():
            raise InvalidInput(f"Invalid {SESSIONS_ENV} entry {item!r}: expected SYMBOL=SESSION")
        out[symbol.strip()] = parse_session(spec)
    return out


@functools.lru_cache(maxsize=8)
def _configured_holidays(text: str) -> dict[str, tuple[frozenset[dt.date], frozenset[tuple[int, int]]]]:
    """Symbol or asset class -> (closed dates, closed MM-DD every year)."""
    out = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, sep, dates = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"Invalid {HOLIDAYS_ENV} entry {item!r}: expected SYMBOL_OR_CLASS=YYYY-MM-DD MM-DD ...")
        fixed, yearly = set(), set()
        for word in dates.split():
            try:
                if len(word) == 5:
                    month, day = int(word[:2]), int(word[3:])
                    dt.date(2000, month, day)  # validates (2000 is a leap year)
                    yearly.add((month, day))
                else:
                    fixed.add(dt.date.fromisoformat(word))
            except ValueError:
                raise InvalidInput(f"Invalid {HOLIDAYS_ENV} date {word!r}: expected YYYY-MM-DD or MM-DD") from None
        out[key.strip()] = (frozenset(fixed), frozenset(yearly))
    return out


def asset_class(symbol: str) -> str:
    """fx, metals, crypto, or custom (a symbol given its own session in TICKLAKE_SESSIONS)."""
    if symbol in _configured_sessions(get(SESSIONS_ENV) or ""):
        return "custom"
    if symbol.startswith(CRYPTO_BASES) or symbol.endswith(CRYPTO_QUOTES):
        return "crypto"
    if symbol.startswith(METALS):
        return "metals"
    return "fx"


def session_for(symbol: str) -> Session:
    """The symbol's session: its TICKLAKE_SESSIONS entry, else its asset class's (anything unknown trades FX hours)."""
    configured = _configured_sessions(get(SESSIONS_ENV) or "")
    return configured.get(symbol) or BUILT_IN[asset_class(symbol)]


def is_holiday(symbol: str, trade_date: dt.date) -> bool:
    table = _configured_holidays(get(HOLIDAYS_ENV) or "")
    for key in (symbol, asset_class(symbol)):
        fixed, yearly = table.get(key, (frozenset(), frozenset()))
        if trade_date in fixed or (trade_date.month, trade_date.day) in yearly:
            return True
    return False


# --- questions --------------------------------------------------------------------------------------


def open_spans(symbol: str, start_ms: int, end_ms: int) -> list[tuple[int, int]]:
    """[start, end) epoch-ms spans in which the symbol's market is open, holidays removed."""
    session = session_for(symbol)
    spans = session.open_spans(start_ms, end_ms)
    first = day_of_ms(start_ms) - _DAY
    for i in range((day_of_ms(max(end_ms - 1, start_ms)) - first).days + 3):
        date = first + dt.timedelta(days=i)
        if is_holiday(symbol, date):
            spans = _minus(spans, session.trade_date_bounds(date))
    return spans


def open_intervals(symbol: str, day: dt.date) -> list[tuple[int, int]]:
    """The UTC day's open spans (one for FX and crypto; an exchange may have more)."""
    return list(_day_spans(symbol, day, get(SESSIONS_ENV) or "", get(HOLIDAYS_ENV) or ""))


@functools.lru_cache(maxsize=65_536)
def _day_spans(symbol: str, day: dt.date, _sessions: str, _holidays: str) -> tuple[tuple[int, int], ...]:
    """Cached per configuration (the texts are part of the key), so years of days cost one pass each."""
    start = day_start_ms(day)
    return tuple(open_spans(symbol, start, start + DAY_MS))


def trades_on(symbol: str, day: dt.date) -> bool:
    """Whether the market is open at any time of the UTC day (FX: Sunday evening to Friday afternoon)."""
    return bool(open_intervals(symbol, day))


def trading_at(symbol: str, epoch_ms: int) -> bool:
    return any(lo <= epoch_ms < hi for lo, hi in open_intervals(symbol, day_of_ms(epoch_ms)))


DayKind = Literal["ticks", "closed", "hole", "pending"]
# What a closed day records in place of counts: done, with nothing to hold.
CLOSED_DAY_METADATA = {"market": "closed", "ticks": 0}


def day_kind(symbol: str, day: dt.date, ticks: int, now_ms: int) -> DayKind:
    """What a symbol-day holds: ticks; none on a closed day (done); none while open (a hole); not open yet."""
    if ticks:
        return "ticks"
    spans = open_intervals(symbol, day)
    if not spans:
        return "closed"
    return "hole" if spans[0][0] < now_ms else "pending"


def hole_reason(symbol: str, day: dt.date) -> str:
    return f"no ticks for {symbol} {day.isoformat()}, a day its market was open"
