"""Response shapes, for the OpenAPI document and its readers (candles themselves are serialized by PostgreSQL)."""

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from ticklake_dagster.core.timeframes import BY_NAME

if TYPE_CHECKING:  # a Literal built at run time is no type to mypy: to it, a timeframe is a str
    Timeframe = str
else:
    Timeframe = Literal[tuple(BY_NAME)]


class Candle(BaseModel):
    time: int = Field(description="Bucket start, unix seconds (UTC)")
    open: float = Field(description="Mid price of the bucket's first tick")
    high: float
    low: float
    close: float = Field(description="Mid price of the bucket's last tick")
    trades: int = Field(description="Ticks in the bucket")
    spread_avg: float | None = Field(description="Mean ask - bid over the bucket's ticks")


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
