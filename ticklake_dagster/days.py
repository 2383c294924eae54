"""UTC day arithmetic and parsing of the DATE / START:END arguments users type."""

import datetime as dt

from ticklake_dagster.errors import InvalidInput

DAY_MS = 86_400_000
MAX_RANGE_DAYS = 3660


def parse_day(text: str) -> dt.date:
    """Parse YYYY-MM-DD strictly."""
    try:
        if len(text) != 10:
            raise ValueError
        return dt.date.fromisoformat(text)
    except (TypeError, ValueError):
        raise InvalidInput(f"Invalid date {text!r}: expected YYYY-MM-DD") from None


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
