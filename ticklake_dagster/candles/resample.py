"""Candles of any timeframe straight from ticks: `read_candles`, for research (no Dagster, no database).

Intraday timeframes are UTC-aligned buckets, as the stored ones are. `1d`, `1w` and `1M` follow the symbol's
market session (core/sessions.py): an FX day bar for trade date D runs from 17:00 New York on D-1 to 17:00
on D (so a week has five), its week from Sunday 17:00 to Friday 17:00, its month over the month's trade
dates; crypto's are UTC days, weeks from Monday 00:00 UTC, and calendar months. `time` is the bar's start.
"""

import numpy as np
import pandas as pd

from ticklake_dagster.core.errors import InvalidInput
from ticklake_dagster.core.sessions import Session, session_for
from ticklake_dagster.lake.parts import VOLUMES
from ticklake_dagster.ticks.reading import iter_ticks

# Bucket widths in seconds of the intraday timeframes; the session timeframes are below.
INTRADAY = {
    "1m": 60, "2m": 120, "3m": 180, "5m": 300, "10m": 600, "15m": 900, "30m": 1_800,
    "1h": 3_600, "2h": 7_200, "4h": 14_400, "6h": 21_600, "12h": 43_200,
}  # fmt: skip
SESSION_TIMEFRAMES = ("1d", "1w", "1M")
ANY_TIMEFRAME = (*INTRADAY, *SESSION_TIMEFRAMES)
PRICES = ("mid", "bid", "ask")
CANDLE_COLUMNS = ("time", "open", "high", "low", "close", "trades", *VOLUMES)


def session_bar_starts(ts_ms: np.ndarray, session: Session, timeframe: str) -> np.ndarray:
    """Each tick's bar start (epoch ms) for a session timeframe: the start of its trade date, week or month."""
    local = pd.to_datetime(ts_ms, unit="ms", utc=True).tz_convert(session.zone).tz_localize(None)
    roll = pd.Timedelta(hours=session.roll.hour, minutes=session.roll.minute)
    # a tick at or after the roll belongs to the next trade date (FX: 17:00 New York starts tomorrow's)
    trade_dates = (local + (pd.Timedelta(days=1) - roll if roll else pd.Timedelta(0))).normalize()
    if timeframe == "1w":
        trade_dates = trade_dates - pd.to_timedelta(trade_dates.dayofweek, unit="D")  # the week's Monday
    elif timeframe == "1M":
        trade_dates = trade_dates - pd.to_timedelta(trade_dates.day - 1, unit="D")
    unique, inverse = np.unique(trade_dates.to_numpy(), return_inverse=True)
    starts = np.array([session.trade_date_bounds(pd.Timestamp(d).date())[0] for d in unique], dtype="int64")
    return starts[inverse]


def validate_request(timeframe: str, price: str) -> None:
    """A timeframe and price side candles can be built for, or the one-line reason they cannot."""
    if timeframe not in ANY_TIMEFRAME:
        raise InvalidInput(f"Invalid timeframe {timeframe!r}: expected one of {' '.join(ANY_TIMEFRAME)}")
    if price not in PRICES:
        raise InvalidInput(f"Invalid price {price!r}: expected mid, bid or ask")


def bucket_starts(ts_ms: np.ndarray, timeframe: str, symbol: str) -> np.ndarray:
    if timeframe in INTRADAY:
        width = INTRADAY[timeframe] * 1000
        return ts_ms // width * width
    return session_bar_starts(ts_ms, session_for(symbol), timeframe)


def candles_from_ticks(ticks: pd.DataFrame, timeframe: str, symbol: str, price: str = "mid") -> pd.DataFrame:
    """OHLC of `price` (mid, bid or ask), tick count and volume sums per bar; `ticks` (ts_ms, bid, ask[, volumes])
    sorted by ts_ms. Volumes are NaN for a bar whose ticks have none."""
    validate_request(timeframe, price)
    ts = ticks["ts_ms"].to_numpy(dtype="int64")
    if not len(ts):
        empty = {c: pd.Series(dtype="float64") for c in CANDLE_COLUMNS}
        empty["time"] = pd.Series(dtype="datetime64[ms, UTC]")
        empty["trades"] = pd.Series(dtype="int64")
        return pd.DataFrame(empty)
    bid, ask = ticks["bid"].to_numpy(dtype="float64"), ticks["ask"].to_numpy(dtype="float64")
    values = {"mid": (bid + ask) / 2.0, "bid": bid, "ask": ask}[price]
    keys = bucket_starts(ts, timeframe, symbol)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(ts)] - 1
    out = {
        "time": pd.to_datetime(keys[starts], unit="ms", utc=True).as_unit("ms"),
        "open": values[starts],
        "high": np.maximum.reduceat(values, starts),
        "low": np.minimum.reduceat(values, starts),
        "close": values[ends],
        "trades": (ends - starts + 1).astype("int64"),
    }
    for name in VOLUMES:
        vol = ticks[name].to_numpy(dtype="float64") if name in ticks else np.full(len(ts), np.nan)
        have = np.add.reduceat((~np.isnan(vol)).astype("int64"), starts)
        sums = np.add.reduceat(np.nan_to_num(vol), starts)
        out[name] = np.where(have > 0, sums, np.nan)
    return pd.DataFrame(out)


def read_candles(
    symbol: str, timeframe: str, start, end=None, *, price: str = "mid", lake_url: str | None = None
) -> pd.DataFrame:
    """Candles of `symbol` built from the lake's ticks in [start, end] (see read_ticks for the range rules).

    A session bar that straddles the range's edge (FX's 1d starts at 17:00 New York the day before) holds
    only the ticks inside the range: ask for the whole trade dates to get whole bars.
    """
    validate_request(timeframe, price)
    # day by day (one day of ticks in memory); a bar spanning days is merged from its days' parts
    parts = [
        candles_from_ticks(t, timeframe, symbol, price) for _, t in iter_ticks(symbol, start, end, lake_url=lake_url)
    ]
    parts = [p for p in parts if len(p)]
    if not parts:
        return candles_from_ticks(pd.DataFrame({"ts_ms": [], "bid": [], "ask": []}), timeframe, symbol, price)
    return merge_bars(pd.concat(parts, ignore_index=True))


def merge_bars(candles: pd.DataFrame) -> pd.DataFrame:
    """Rows of the same bar (consecutive, in time order) as one: first open, max high, min low, last close, sums."""
    keys = candles["time"].astype("int64").to_numpy()  # (a tz-aware column's to_numpy() is objects: slow)
    if len(keys) < 2 or bool(np.all(keys[1:] != keys[:-1])):
        return candles
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(keys)] - 1
    out = {
        "time": candles["time"].iloc[starts].reset_index(drop=True),
        "open": candles["open"].to_numpy()[starts],
        "high": np.maximum.reduceat(candles["high"].to_numpy(), starts),
        "low": np.minimum.reduceat(candles["low"].to_numpy(), starts),
        "close": candles["close"].to_numpy()[ends],
        "trades": np.add.reduceat(candles["trades"].to_numpy(), starts),
    }
    for name in VOLUMES:
        vol = candles[name].to_numpy(dtype="float64")
        have = np.add.reduceat((~np.isnan(vol)).astype("int64"), starts)
        out[name] = np.where(have > 0, np.add.reduceat(np.nan_to_num(vol), starts), np.nan)
    return pd.DataFrame(out)
