"""Realistic synthetic FX/crypto ticks: a random walk of the mid with a jittered spread, Poisson arrivals.

Used by `ticklake seed-demo` (whole days at once) and the ingester's live `synthetic:` source.
"""

import datetime as dt
import zlib

import numpy as np

from ticklake_dagster.core.sessions import open_intervals

BASE_PRICES = {
    "EURUSD": 1.085,
    "GBPUSD": 1.27,
    "USDJPY": 151.2,
    "AUDUSD": 0.66,
    "USDCHF": 0.88,
    "USDCAD": 1.36,
    "XAUUSD": 2400.0,
    "BTC-USD": 64000.0,
    "ETH-USD": 3100.0,
}


def base_price(symbol: str) -> float:
    return BASE_PRICES.get(symbol, 1.0 + (zlib.crc32(symbol.encode()) % 1000) / 1000.0)


def _decimals(price: float) -> int:
    return 5 if price < 20 else 3 if price < 1000 else 2


class RandomWalk:
    """A symbol's mid price; each step moves it ~0.3 pip, and bid/ask straddle it by ~1 pip."""

    def __init__(self, symbol: str, seed: int | None = None, price: float | None = None):
        self.symbol = symbol
        self.rng = np.random.default_rng(zlib.crc32(symbol.encode()) if seed is None else seed)
        self.price = price or base_price(symbol)
        self.decimals = _decimals(self.price)
        self.vol = 0.00003

    def step(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The next n (bid, ask) quotes, rounded to the symbol's tick size; bid < ask always."""
        mids = self.price * np.exp(np.cumsum(self.rng.normal(0.0, self.vol, n)))
        if n:
            self.price = float(mids[-1])
        half = self.price * 0.00004 * (1.0 + self.rng.random(n))
        tick = 10.0**-self.decimals
        bid = np.round(mids - half, self.decimals)
        ask = np.maximum(np.round(mids + half, self.decimals), bid + tick)
        return bid, np.round(ask, self.decimals)


def generate_day(
    symbol: str, day: dt.date, rate: float = 1.0, walk: RandomWalk | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A day of ticks (ts_ms sorted, bid, ask) at `rate` ticks/s on average while the symbol's market is open.

    FX gets Sunday evening and Friday up to 17:00 New York; a closed day is empty.
    """
    walk = walk or RandomWalk(symbol, seed=zlib.crc32(f"{symbol}/{day}".encode()))
    spans = open_intervals(symbol, day)
    if not spans:
        empty = np.empty(0)
        return empty.astype("int64"), empty, empty
    lengths = np.array([hi - lo for lo, hi in spans], dtype="int64")
    open_ms = int(lengths.sum())
    n = int(walk.rng.poisson(rate * open_ms / 1000.0))
    offsets = np.sort(walk.rng.integers(0, open_ms, n))
    # offsets run over the open time only; map each into its span
    ends = np.cumsum(lengths)
    which = np.searchsorted(ends, offsets, side="right")
    starts = np.array([lo for lo, _ in spans], dtype="int64")
    ts = starts[which] + offsets - (ends - lengths)[which]
    bid, ask = walk.step(n)
    return ts.astype("int64"), bid, ask


def batch_bounds(ts_ms: np.ndarray, max_ticks: int = 1000, max_age_ms: int = 300_000) -> list[tuple[int, int]]:
    """[start, end) index ranges the ingester would flush: 1000 ticks or 5 minutes after a batch's first tick."""
    bounds = []
    i, n = 0, len(ts_ms)
    while i < n:
        limit = min(i + max_ticks, n)
        j = i + int(np.searchsorted(ts_ms[i:limit], ts_ms[i] + max_age_ms, side="left"))
        bounds.append((i, j))
        i = j
    return bounds
