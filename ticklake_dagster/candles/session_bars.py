"""Session bars (`1d`, `1w`, `1M`): where each symbol's trade dates, weeks and months start, as one table of times.

An FX bar for trade date D runs from 17:00 New York on D-1 to 17:00 on D (five a week, with the zone's DST),
its week from Sunday 17:00 to Friday 17:00, its month over the month's trade dates; crypto's are UTC days,
weeks from Monday 00:00 UTC and calendar months. `time` is the bar's start.

The bar starts come from the session table (`Session.trade_date_bounds`, zoneinfo's DST rules), a year at a
time and cached. Ticks and candles find their bar by binary search in that table (numpy `searchsorted`), and
PostgreSQL by `width_bucket` over the same table passed as an array: one definition of the bars for the
lake, the database and the tests, and no per-row time-zone arithmetic in SQL.
"""

import datetime as dt
import functools

import numpy as np

from ticklake_dagster.core.sessions import Session

HOUR_S = 3_600


@functools.lru_cache(maxsize=512)
def _year_starts(session: Session, timeframe: str, year: int) -> tuple[int, ...]:
    """Epoch seconds of the bars of `timeframe` whose trade date (or week's Monday, or month) lies in `year`."""
    first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
    if timeframe == "1d":
        dates = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    elif timeframe == "1w":
        monday = first + dt.timedelta(days=-first.weekday() % 7)
        dates = [monday + dt.timedelta(weeks=i) for i in range(53) if (monday + dt.timedelta(weeks=i)).year == year]
    elif timeframe == "1M":
        dates = [dt.date(year, month, 1) for month in range(1, 13)]
    else:
        raise ValueError(f"{timeframe!r} is no session timeframe")
    return tuple(session.trade_date_bounds(d)[0] // 1000 for d in dates)


def bar_starts(session: Session, timeframe: str, start_s: int, end_s: int) -> np.ndarray:
    """Sorted bar starts (epoch seconds) from the last one at or before `start_s` to the first one after `end_s`:
    every bar touching [start_s, end_s], and where the last of them ends."""
    first = dt.datetime.fromtimestamp(start_s, dt.timezone.utc).year - 1
    last = dt.datetime.fromtimestamp(end_s, dt.timezone.utc).year + 1
    starts = np.array([s for year in range(first, last + 1) for s in _year_starts(session, timeframe, year)], "int64")
    lo = max(0, int(np.searchsorted(starts, start_s, side="right")) - 1)
    hi = int(np.searchsorted(starts, end_s, side="right")) + 1
    return starts[lo:hi]


def session_bar_starts(ts_ms: np.ndarray, session: Session, timeframe: str) -> np.ndarray:
    """Each time's bar start (epoch ms) for a session timeframe: the start of its trade date, week or month."""
    if not len(ts_ms):
        return np.asarray(ts_ms, dtype="int64")
    starts = bar_starts(session, timeframe, int(ts_ms.min()) // 1000, int(ts_ms.max()) // 1000) * 1000
    return starts[np.searchsorted(starts, ts_ms, side="right") - 1]


def whole_bars(session: Session, timeframe: str, start_s: int, end_s: int) -> np.ndarray:
    """The bars starting within [start_s, end_s] and where the last of them ends: n+1 bounds for n bars."""
    starts = bar_starts(session, timeframe, start_s, end_s)
    return starts[np.searchsorted(starts, start_s, side="left") :]


def on_utc_hours(bounds: np.ndarray) -> bool:
    """Whether every bound falls on a UTC hour, so the bars can be rolled up from hourly candles."""
    return bool(np.all(bounds % HOUR_S == 0))
