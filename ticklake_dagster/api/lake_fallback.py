"""Candles beyond the database: days PostgreSQL no longer (or not yet) holds, built from the lake.

The rule, per UTC day of the requested range: a day whose timeframe relation holds at least one of the
symbol's candles is answered by the database; a day without any that `ticks_daily/` holds is built from
the lake (at most `max_days` such days per request). The answer is one series either way; the days that
came from the lake are named in the X-Ticklake-Lake-Days header. If the lake cannot be listed or read
for a day the answer needs, the request fails (503) rather than returning a series with a hole.
"""

import dataclasses
import datetime as dt
import json

import numpy as np

from ticklake_dagster.api.sql import CandleStore, source_timeframe
from ticklake_dagster.candles.building import roll_up
from ticklake_dagster.candles.from_lake import (
    DayCandles,
    LakeCandles,
    LakeUnavailable,
    concat,
    day_seconds,
    to_records,
    utc_day,
)
from ticklake_dagster.candles.from_lake import json_values as _json_values
from ticklake_dagster.candles.session_bars import session_bar_starts
from ticklake_dagster.core.errors import InvalidInput
from ticklake_dagster.core.sessions import session_for, trades_on
from ticklake_dagster.core.settings import get
from ticklake_dagster.core.timeframes import BY_NAME, FROM_TICKS, SESSION_TIMEFRAMES, width_seconds

LAKE_DAYS_HEADER = "X-Ticklake-Lake-Days"
MAX_SOURCE_ROWS = 100_000  # a session request's hours from the database when some of its days are the lake's


def ondemand_max_days() -> int:
    return get("TICKLAKE_ONDEMAND_MAX_DAYS")


def ondemand_cache_bytes() -> int:
    return int(get("TICKLAKE_ONDEMAND_CACHE_MB") * 1024 * 1024)


@dataclasses.dataclass
class Answer:
    body: str | None  # the JSON array, None for an unknown symbol
    lake_days: list[dt.date]


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def candles(
    store: CandleStore,
    lake: LakeCandles | None,
    symbol: str,
    timeframe: str,
    start: int,
    end: int,
    limit: int,
    today: dt.date | None = None,
    price: str = "mid",
) -> Answer:
    """`price`'s candles of [start, end] (unix s) from the database, and from the lake for the days it lacks.

    Session bars (1d, 1w, 1M) are judged by the days of the stored timeframe they roll up; when some of
    those days come from the lake, the database's and the lake's candles of that timeframe are rolled up
    together, so a bar spanning both is whole.
    """
    if timeframe in FROM_TICKS:
        return _from_ticks(lake, symbol, timeframe, start, end, price)
    if lake is None:
        return Answer(store.candles_json(symbol, timeframe, start, end, limit, price), [])
    source = source_timeframe(symbol, timeframe, start, end)
    session = timeframe in SESSION_TIMEFRAMES
    first = utc_day(start)
    last = utc_day(end + SESSION_TIMEFRAMES[timeframe] if session else end)
    try:
        held = lake.days_between(symbol, first, last)
    except LakeUnavailable:
        # Which days the lake holds is unknown: fine only when the database has every open-market day.
        today = today or dt.datetime.now(dt.timezone.utc).date()
        needed = [d for d in _days(first, min(last, today)) if trades_on(symbol, d)]
        if set(needed) - store.days_with_candles(symbol, source, needed):
            raise
        held = []
    from_lake = sorted(set(held) - store.days_with_candles(symbol, source, held)) if held else []
    if len(from_lake) > lake.max_days:
        raise InvalidInput(
            f"Range needs {len(from_lake)} days from the lake ({from_lake[0]}..{from_lake[-1]}) and at most "
            f"{lake.max_days} are built per request (TICKLAKE_ONDEMAND_MAX_DAYS); narrow from/to"
        )
    if not from_lake:
        body = store.candles_json(symbol, timeframe, start, end, limit, price)
        if body is None and (held or _lake_knows(lake, symbol)):
            body = "[]"  # a symbol only the lake holds is known, even where this range has nothing
        return Answer(body, [])
    if session:
        until = day_seconds(last + dt.timedelta(days=1)) - 1
        rows = json.loads(store.candles_json(symbol, source, start, until, MAX_SOURCE_ROWS, price) or "[]")
        built = to_records(lake.candles(symbol, from_lake, BY_NAME[source].seconds), start, until, price)
        merged = session_records(sorted(rows + built, key=lambda c: c["time"]), symbol, timeframe)
        merged = [c for c in merged if start <= c["time"] <= end][:limit]  # whole bars only, as the database's
    else:
        rows = json.loads(store.candles_json(symbol, timeframe, start, end, limit, price) or "[]")
        built = to_records(lake.candles(symbol, from_lake, width_seconds(timeframe)), start, end, price)
        merged = sorted(rows + built, key=lambda c: c["time"])
    return Answer(json.dumps(merged, separators=(",", ":")), from_lake)


def _from_ticks(lake: LakeCandles | None, symbol: str, timeframe: str, start: int, end: int, price: str) -> Answer:
    """Candles below 5 minutes, which no table stores: built from the lake's ticks of each day of the range."""
    if lake is None:
        raise InvalidInput(f"{timeframe} candles are built from the lake's ticks, and this API serves no lake")
    days = _days(utc_day(start), utc_day(end))
    if len(days) > lake.max_days:
        raise InvalidInput(
            f"Range needs {len(days)} days of ticks for {timeframe} candles and at most {lake.max_days} are read "
            "per request (TICKLAKE_ONDEMAND_MAX_DAYS); narrow from/to"
        )
    known = lake.index.days(symbol)
    built = [lake.from_ticks(symbol, day, width_seconds(timeframe)) for day in days]
    with_ticks = [day for day, candles in zip(days, built) if len(candles)]
    if not with_ticks and not known:
        return Answer(None, [])
    return Answer(json.dumps(to_records(concat(built), start, end, price), separators=(",", ":")), with_ticks)


def session_records(rows: list[dict], symbol: str, timeframe: str) -> list[dict]:
    """One price side's candles (API objects, in time order) rolled up to the symbol's session bars."""
    if not rows:
        return []
    names = list(rows[0])
    columns = {
        n: np.array([r[n] for r in rows], dtype="int64" if n in ("time", "trades") else "float64") for n in names
    }
    keys = session_bar_starts(columns["time"] * 1000, session_for(symbol), timeframe) // 1000
    bars = DayCandles(roll_up(columns, keys))
    return [dict(zip(names, row)) for row in zip(*(_json_values(bars[n]) for n in names))]


def _lake_knows(lake: LakeCandles, symbol: str) -> bool:
    try:
        return bool(lake.index.days(symbol))
    except LakeUnavailable:
        return False


def lake_span(lake: LakeCandles | None, symbol: str) -> tuple[dt.date, dt.date] | None:
    """The first and last day the lake holds for the symbol; None when it holds none or cannot be listed."""
    if lake is None:
        return None
    try:
        return lake.span(symbol)
    except LakeUnavailable:
        return None
