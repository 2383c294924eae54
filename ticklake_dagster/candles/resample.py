"""Candles of any timeframe straight from ticks: `read_candles`, for research (no Dagster, no database).

Intraday timeframes are UTC-aligned buckets, as the stored ones are. `1d`, `1w` and `1M` follow the symbol's
market session (core/sessions.py): an FX day bar for trade date D runs from 17:00 New York on D-1 to 17:00
on D (so a week has five), its week from Sunday 17:00 to Friday 17:00, its month over the month's trade
dates; crypto's are UTC days, weeks from Monday 00:00 UTC, and calendar months. `time` is the bar's start.
"""

import numpy as np
import pandas as pd

from ticklake_dagster.candles.building import ohlc, roll_up, run_bounds, volume_columns
from ticklake_dagster.candles.session_bars import session_bar_starts
from ticklake_dagster.core.errors import InvalidInput
from ticklake_dagster.core.sessions import session_for
from ticklake_dagster.core.timeframes import INTRADAY, OHLC, PRICES, SERVED, VOLUMES
from ticklake_dagster.ticks.reading import iter_ticks

CANDLE_COLUMNS = ("time", *OHLC, "trades", *VOLUMES)  # one price side, as read_candles and the export give it


def validate_request(timeframe: str, price: str) -> None:
    """A timeframe and price side candles can be built for, or the one-line reason they cannot."""
    if timeframe not in SERVED:
        raise InvalidInput(f"Invalid timeframe {timeframe!r}: expected one of {' '.join(SERVED)}")
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
    starts, ends = run_bounds(keys)
    out = {"time": pd.to_datetime(keys[starts], unit="ms", utc=True).as_unit("ms")}
    out.update(zip(OHLC, ohlc(values, starts, ends)))
    out["trades"] = (ends - starts + 1).astype("int64")
    out.update(volume_columns(ticks, starts))
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
    merged = roll_up({c: candles[c].to_numpy() for c in CANDLE_COLUMNS if c != "time"} | {"time": keys}, keys)
    merged["time"] = pd.to_datetime(merged["time"], unit="ms", utc=True).as_unit("ms")
    return pd.DataFrame(merged, columns=list(CANDLE_COLUMNS))
