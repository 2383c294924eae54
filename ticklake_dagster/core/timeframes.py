"""The candle timeframes and columns, written once: the candle building, the SQL, the API and the tests read this.

Each stored timeframe is rolled up from the one before it (TimescaleDB hierarchical continuous aggregates,
or plain tables filled in SQL); the migrations create a relation for every row. The session timeframes
(`1d`, `1w`, `1M`) follow each symbol's market session (core/sessions.py), which differs per symbol, so they
are built from `candles_1h` at query time rather than stored: the New York close always falls on a UTC hour.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Timeframe:
    name: str  # what the API and the chart call it
    relation: str  # the table (or continuous aggregate) and the Dagster asset
    seconds: int  # bucket width
    source: str | None  # the relation it is rolled up from; None for the one built from ticks

    @property
    def interval(self) -> str:
        """The width as a PostgreSQL interval literal."""
        return f"{self.seconds} seconds"


TIMEFRAMES = (
    Timeframe("5m", "candles_5m", 300, None),
    Timeframe("15m", "candles_15m", 900, "candles_5m"),
    Timeframe("1h", "candles_1h", 3_600, "candles_15m"),
    Timeframe("4h", "candles_4h", 14_400, "candles_1h"),
    Timeframe("12h", "candles_12h", 43_200, "candles_4h"),
)
BASE = TIMEFRAMES[0]
ROLLUPS = TIMEFRAMES[1:]
BY_NAME = {tf.name: tf for tf in TIMEFRAMES}
CANDLES_PER_DAY = 86_400 // BASE.seconds

# Every intraday timeframe served (the API, the reader, the export): UTC-aligned buckets of these widths. Those
# that are not stored are rolled up at query time from the widest stored one dividing them (10m, 30m, 2h, 6h),
# or built from the lake's ticks (below 5 minutes).
INTRADAY = {
    "1m": 60, "2m": 120, "3m": 180, "5m": 300, "10m": 600, "15m": 900, "30m": 1_800,
    "1h": 3_600, "2h": 7_200, "4h": 14_400, "6h": 21_600, "12h": 43_200,
}  # fmt: skip
# Session bars: a trade date, its week, its month; the widest span one bar can cover, for range limits.
SESSION_TIMEFRAMES = {"1d": 86_400, "1w": 7 * 86_400, "1M": 31 * 86_400}
SESSION_SOURCE = BY_NAME["1h"]
SERVED = (*INTRADAY, *SESSION_TIMEFRAMES)  # what /api/candles serves, narrowest first
FROM_TICKS = tuple(name for name, width in INTRADAY.items() if width < BASE.seconds)  # only the lake's ticks have them

# The price sides: the mid keeps the historical column names, bid and ask are prefixed.
PRICES = ("mid", "bid", "ask")
OHLC = ("open", "high", "low", "close")
VOLUMES = ("bid_volume", "ask_volume")  # summed base-asset units; null where the ticks had none


def side_columns(price: str) -> tuple[str, str, str, str]:
    """The stored open/high/low/close columns of one price side."""
    prefix = "" if price == "mid" else f"{price}_"
    return tuple(f"{prefix}{c}" for c in OHLC)  # type: ignore[return-value]


# Every column of a stored candle, in table order (after `symbol`).
CANDLE_COLUMNS = ("time", *OHLC, "trades", "spread_avg", *side_columns("bid"), *side_columns("ask"), *VOLUMES)


def rollup_rule(column: str) -> str:
    """How a run of candles combines into a wider one, per column: first, last, max, min, sum or trades_mean.

    The SQL rollups (candles/sql.py, the continuous aggregates) and the numpy ones (candles/building.py) follow it.
    """
    if column in VOLUMES or column == "trades":
        return "sum"
    if column == "spread_avg":
        return "trades_mean"  # the mean over the ticks, so weighted by each candle's tick count
    return {"open": "first", "high": "max", "low": "min", "close": "last"}[column.rsplit("_", 1)[-1]]


def width_seconds(name: str) -> int:
    """A served timeframe's bucket width (a session timeframe's widest bar), for range limits and the chart."""
    return INTRADAY[name] if name in INTRADAY else SESSION_TIMEFRAMES[name]


def stored_source(name: str) -> Timeframe | None:
    """The stored timeframe an intraday one is read or rolled up from: itself, else the widest stored one whose
    width divides it; None below 5 minutes (built from ticks)."""
    width = INTRADAY[name]
    dividing = [tf for tf in TIMEFRAMES if width % tf.seconds == 0]
    return dividing[-1] if dividing else None
