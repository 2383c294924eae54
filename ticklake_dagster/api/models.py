"""Response shapes, for the OpenAPI document and its readers (candles themselves are serialized by PostgreSQL)."""

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from ticklake_dagster.core.timeframes import PRICES, SERVED

if TYPE_CHECKING:  # a Literal built at run time is no type to mypy: to it, a timeframe or a price is a str
    Timeframe = str
    Price = str
else:
    Timeframe = Literal[SERVED]
    Price = Literal[PRICES]


class Candle(BaseModel):
    time: int = Field(description="Bucket (or session bar) start, unix seconds (UTC)")
    open: float = Field(description="The price side's (mid, bid or ask) price at the bucket's first tick")
    high: float
    low: float
    close: float = Field(description="The price side's price at the bucket's last tick")
    trades: int = Field(description="Ticks in the bucket")
    spread_avg: float | None = Field(description="Mean ask - bid over the bucket's ticks")
    bid_volume: float | None = Field(description="Summed bid volumes, base-asset units; null where the ticks had none")
    ask_volume: float | None = Field(description="Summed ask volumes, base-asset units; null where the ticks had none")


class Metadata(BaseModel):
    symbol: str
    timeframes: list[Timeframe] = Field(description="Timeframes holding at least one candle of the symbol")
    first: int = Field(description="First 5-minute candle, unix seconds")
    last: int = Field(description="Last 5-minute candle, unix seconds")
    count: int = Field(description="Number of 5-minute candles in the database")
    lake_first_day: str | None = Field(
        default=None, description="First UTC day (YYYY-MM-DD) the lake's ticks_daily/ holds"
    )
    lake_last_day: str | None = Field(default=None, description="Last UTC day the lake's ticks_daily/ holds")
    lake_max_days: int | None = Field(default=None, description="Most days one candles request may build from the lake")


class TimeframeWidth(BaseModel):
    name: Timeframe
    seconds: int = Field(description="Bucket width in seconds")


class Timeframes(BaseModel):
    timeframes: list[TimeframeWidth] = Field(description="Every timeframe the API serves, narrowest first")


class Symbols(BaseModel):
    symbols: list[str] = Field(description="Symbols with candles, sorted")


class Health(BaseModel):
    status: Literal["ok"]
    database: str = Field(description="Database flavor: timescaledb, postgres, or unknown when not migrated by the API")


class ErrorBody(BaseModel):
    detail: str = Field(description="One line saying what was wrong")
