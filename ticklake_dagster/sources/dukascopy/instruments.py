"""Dukascopy instruments: the point factor that turns the feed's integers into prices, and the JSON feed's code.

Wrong point factors are the most reported bug of existing downloaders (XAUUSD or USDJPY divided by
1e5), so the factor comes from this table or from an explicit --point-value, never from a guess.
"""

import dataclasses
import datetime as dt
import itertools

from ticklake_dagster.core.errors import InvalidInput
from ticklake_dagster.core.symbols import validate_symbol

FX, METAL, CRYPTO, OTHER = "fx", "metal", "crypto", "other"

# The eight major currencies in market-convention order: a pair quotes the earlier one in the later one.
_MAJORS = ("EUR", "GBP", "AUD", "NZD", "USD", "CAD", "CHF", "JPY")


@dataclasses.dataclass(frozen=True)
class Instrument:
    """One Dukascopy instrument: its bi5 name, the JSON feed's code and its price scale."""

    name: str  # EURUSD, the bi5 path segment
    point_value: float  # price = integer / point_value
    market: str = FX
    json_code: str = ""  # EUR-USD

    def __post_init__(self):
        if not self.json_code:
            code = f"{self.name[:3]}-{self.name[3:]}" if len(self.name) == 6 else self.name
            object.__setattr__(self, "json_code", code)


def _table() -> dict[str, Instrument]:
    pairs = [a + b for a, b in itertools.combinations(_MAJORS, 2)]  # the 28 majors and crosses
    table = {p: Instrument(p, 1e3 if p.endswith("JPY") else 1e5, FX) for p in pairs}
    table.update({m: Instrument(m, 1e3, METAL) for m in ("XAUUSD", "XAGUSD")})
    table.update({c: Instrument(c, 10.0, CRYPTO) for c in ("BTCUSD", "ETHUSD")})
    return table


INSTRUMENTS: dict[str, Instrument] = _table()


def resolve_instrument(name: str, point_value: float | None = None) -> Instrument:
    """The table's instrument, or one built from an explicit point value; an unknown name without one is an error."""
    validate_symbol(name)
    known = INSTRUMENTS.get(name)
    if point_value is not None:
        if not point_value > 0 or point_value != point_value:
            raise InvalidInput(f"Invalid --point-value {point_value!r}: must be a positive number")
        return (
            dataclasses.replace(known, point_value=float(point_value))
            if known
            else Instrument(name, float(point_value), OTHER)
        )
    if known is None:
        raise InvalidInput(
            f"Unknown Dukascopy instrument {name}: give its point factor with --point-value "
            f"(price = feed integer / factor, e.g. 100000 for EURUSD, 1000 for USDJPY)"
        )
    return known


def market_may_be_open(instrument: Instrument, hour_start: dt.datetime) -> bool:
    """Whether an empty hour is suspicious: crypto trades always, the rest from Sunday 21:00 to Friday 22:00 UTC."""
    if instrument.market == CRYPTO:
        return True
    weekday, hour = hour_start.weekday(), hour_start.hour
    if weekday == 5:
        return False
    if weekday == 6:
        return hour >= 21
    if weekday == 4:
        return hour < 22
    return True
