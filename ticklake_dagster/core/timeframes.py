"""The candle timeframes, written once: the candle building, the SQL, the API and the tests read this table.

Each higher timeframe is rolled up from the one before it (TimescaleDB hierarchical continuous
aggregates, or plain tables filled in SQL); the migrations create a relation for every row.
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
    Timeframe("1d", "candles_1d", 86_400, "candles_12h"),
)
BASE = TIMEFRAMES[0]
ROLLUPS = TIMEFRAMES[1:]
BY_NAME = {tf.name: tf for tf in TIMEFRAMES}
