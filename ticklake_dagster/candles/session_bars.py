"""Session bars (`1d`, `1w`, `1M`): where each symbol's trade date, week and month start, in numpy and in SQL.

An FX bar for trade date D runs from 17:00 New York on D-1 to 17:00 on D (five a week, with the zone's DST),
its week from Sunday 17:00 to Friday 17:00, its month over the month's trade dates; crypto's are UTC days,
weeks from Monday 00:00 UTC and calendar months. `time` is the bar's start. Both forms shift local time by
the session's roll so that a trade date starts at local midnight, truncate, and shift back.
"""

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from ticklake_dagster.core.sessions import Session

TRUNCATE = {"1d": "day", "1w": "week", "1M": "month"}  # PostgreSQL date_trunc units


def _shift(session: Session) -> dt.timedelta:
    """Local time plus this is at midnight when a trade date starts (FX: 17:00 + 7 h)."""
    roll = dt.timedelta(hours=session.roll.hour, minutes=session.roll.minute)
    return dt.timedelta(days=1) - roll if roll else dt.timedelta(0)


def session_bar_starts(ts_ms: np.ndarray, session: Session, timeframe: str) -> np.ndarray:
    """Each time's bar start (epoch ms) for a session timeframe: the start of its trade date, week or month."""
    local = pd.to_datetime(ts_ms, unit="ms", utc=True).tz_convert(session.zone).tz_localize(None)
    trade_dates = (local + pd.Timedelta(_shift(session))).normalize()
    if timeframe == "1w":
        trade_dates = trade_dates - pd.to_timedelta(trade_dates.dayofweek, unit="D")  # the week's Monday
    elif timeframe == "1M":
        trade_dates = trade_dates - pd.to_timedelta(trade_dates.day - 1, unit="D")
    unique, inverse = np.unique(trade_dates.to_numpy(), return_inverse=True)
    starts = np.array([session.trade_date_bounds(pd.Timestamp(d).date())[0] for d in unique], dtype="int64")
    return starts[inverse]


@dataclasses.dataclass(frozen=True)
class BucketSql:
    """The parameters of the SQL bar start `(date_trunc(unit, time AT TIME ZONE zone + shift) - shift) AT TIME ZONE
    zone`, and the relation it reads: candles_1h when every bar edge falls on a UTC hour, else candles_5m."""

    unit: str
    zone: str
    shift: str  # a PostgreSQL interval literal
    source: str


EXPRESSION = (
    "((date_trunc(%(unit)s, (time AT TIME ZONE %(zone)s) + %(shift)s::interval) - %(shift)s::interval)"
    " AT TIME ZONE %(zone)s)"
)


def bucket_sql(session: Session, timeframe: str, years: range) -> BucketSql:
    """How PostgreSQL finds the bars of `timeframe` for `session` over `years` (to check the zone's offsets)."""
    shift = _shift(session)
    return BucketSql(
        TRUNCATE[timeframe],
        session.zone,
        f"{int(shift.total_seconds())} seconds",
        "candles_1h" if _edges_on_utc_hours(session, years) else "candles_5m",
    )


def _edges_on_utc_hours(session: Session, years: range) -> bool:
    """Whether the roll and the zone's UTC offsets (winter and summer of each year) are whole hours."""
    if session.roll.minute:
        return False
    zone = ZoneInfo(session.zone)
    for year in years:
        for month in (1, 7):
            offset = dt.datetime(year, month, 1, tzinfo=zone).utcoffset() or dt.timedelta(0)
            if offset.total_seconds() % 3600:
                return False
    return True
