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

from ticklake_dagster.api.sql import CandleStore
from ticklake_dagster.candles.from_lake import LakeCandles, LakeUnavailable, to_records, utc_day
from ticklake_dagster.core.errors import InvalidInput
from ticklake_dagster.core.sessions import trades_on
from ticklake_dagster.core.settings import get
from ticklake_dagster.core.timeframes import BY_NAME

LAKE_DAYS_HEADER = "X-Ticklake-Lake-Days"


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
) -> Answer:
    """The candles of [start, end] (unix s) from the database, and from the lake for the days it lacks."""
    if lake is None:
        return Answer(store.candles_json(symbol, timeframe, start, end, limit), [])
    first, last = utc_day(start), utc_day(end)
    try:
        held = lake.days_between(symbol, first, last)
    except LakeUnavailable:
        # Which days the lake holds is unknown: fine only when the database has every open-market day.
        today = today or dt.datetime.now(dt.timezone.utc).date()
        needed = [d for d in _days(first, min(last, today)) if trades_on(symbol, d)]
        if set(needed) - store.days_with_candles(symbol, timeframe, needed):
            raise
        held = []
    from_lake = sorted(set(held) - store.days_with_candles(symbol, timeframe, held)) if held else []
    if len(from_lake) > lake.max_days:
        raise InvalidInput(
            f"Range needs {len(from_lake)} days from the lake ({from_lake[0]}..{from_lake[-1]}) and at most "
            f"{lake.max_days} are built per request (TICKLAKE_ONDEMAND_MAX_DAYS); narrow from/to"
        )
    body = store.candles_json(symbol, timeframe, start, end, limit)
    if body is None and (held or _lake_knows(lake, symbol)):
        body = "[]"  # a symbol only the lake holds is known, even where this range has nothing
    if not from_lake:
        return Answer(body, [])
    built = to_records(lake.candles(symbol, from_lake, BY_NAME[timeframe].seconds), start, end)
    rows = json.loads(body) if body else []
    merged = sorted(rows + built, key=lambda c: c["time"])
    return Answer(json.dumps(merged, separators=(",", ":")), from_lake)


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
