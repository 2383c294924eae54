"""When a symbol's market is expected to trade: what the gaps and freshness checks hold the data to, and
the days the demo generator fills.

Crypto (a symbol naming BTC, ETH, SOL or USDT) trades around the clock. FX trades Monday to Friday; its week ends at 22:00 UTC on Friday in
winter and 21:00 in summer, so Friday is held to 21:00 (a lenient hour in winter beats a false alert
every summer Friday). Ticks outside these hours are still accepted; they are just not required.
"""

import datetime as dt

from ticklake_dagster.core.days import DAY_MS, day_of_ms, day_start_ms

FX_FRIDAY_CLOSE_MS = 21 * 3_600_000
CRYPTO_MARKERS = ("BTC", "ETH", "SOL", "USDT")


def is_crypto(symbol: str) -> bool:
    return any(m in symbol for m in CRYPTO_MARKERS)


def trading_window(symbol: str, day: dt.date) -> tuple[int, int] | None:
    """[start, end) epoch ms of the day's expected trading, or None when the market is closed all day."""
    start = day_start_ms(day)
    if is_crypto(symbol):
        return start, start + DAY_MS
    weekday = day.weekday()
    if weekday < 4:
        return start, start + DAY_MS
    if weekday == 4:
        return start, start + FX_FRIDAY_CLOSE_MS
    return None


def trades_on(symbol: str, day: dt.date) -> bool:
    """Whether the market opens at all on the UTC day (FX: Monday to Friday)."""
    return trading_window(symbol, day) is not None


def trading_at(symbol: str, epoch_ms: int) -> bool:
    window = trading_window(symbol, day_of_ms(epoch_ms))
    return window is not None and window[0] <= epoch_ms < window[1]
