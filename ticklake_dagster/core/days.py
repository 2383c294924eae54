"""UTC day arithmetic and parsing of the DATE / START:END arguments users type."""

import datetime as dt
import re

from ticklake_dagster.core.errors import InvalidInput

DAY_MS = 86_400_000

SymbolDay = tuple[str, dt.date]
MAX_RANGE_DAYS = 3660


# The day's end (the next midnight) must be a datetime Python can hold.
MAX_DAY = dt.date(9999, 12, 30)
_DAY_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_day(text: str) -> dt.date:
    """Parse YYYY-MM-DD strictly (fromisoformat alone also takes week dates such as 2025-W10-3)."""
    try:
        if not isinstance(text, str) or not _DAY_RE.fullmatch(text):
            raise ValueError
        day = dt.date.fromisoformat(text)
    except (TypeError, ValueError):
        raise InvalidInput(f"Invalid date {text!r}: expected YYYY-MM-DD") from None
    if day > MAX_DAY:
        raise InvalidInput(f"Invalid date {text!r}: the last supported day is {MAX_DAY}")
    return day


def parse_day_range(text: str, max_days: int = MAX_RANGE_DAYS) -> list[dt.date]:
    """Parse `DATE` or `START:END` (inclusive) into the list of days it covers."""
    start_text, sep, end_text = text.partition(":")
    start = parse_day(start_text)
    end = parse_day(end_text) if sep else start
    if end < start:
        raise InvalidInput(f"Invalid range {text!r}: end is before start")
    n = (end - start).days + 1
    if n > max_days:
        raise InvalidInput(f"Invalid range {text!r}: {n} days is more than {max_days}")
    return [start + dt.timedelta(days=i) for i in range(n)]


def day_runs(days: list[dt.date], max_days: int | None = None) -> list[tuple[dt.date, dt.date]]:
    """Sorted distinct days as (first, last) ranges of consecutive days, each at most `max_days` long."""
    out: list[tuple[dt.date, dt.date]] = []
    for day in days:
        if out and (day - out[-1][1]).days == 1 and (max_days is None or (day - out[-1][0]).days < max_days):
            out[-1] = (out[-1][0], day)
        else:
            out.append((day, day))
    return out


def day_start_ms(day: dt.date) -> int:
    """Milliseconds since the epoch at 00:00 UTC of `day`."""
    return (day - dt.date(1970, 1, 1)).days * DAY_MS


def day_of_ms(epoch_ms: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=epoch_ms // DAY_MS)


def utc_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)


def iso_ms(epoch_ms: int | None) -> str | None:
    """ISO-8601 UTC text of epoch milliseconds, for metadata and logs."""
    if epoch_ms is None:
        return None
    return (dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(milliseconds=int(epoch_ms))).isoformat()


def day_window(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of the UTC day."""
    start = utc_midnight(day)
    return start, start + dt.timedelta(milliseconds=DAY_MS)
