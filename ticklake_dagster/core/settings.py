"""The environment, read in one place: every module asks here, when the value is used (never at import time).

Code that only *sets* variables for child processes (`ticklake dev`, the prepared Dagster instance) writes
`os.environ` itself.
"""

import datetime as dt
import os
from pathlib import Path

from ticklake_dagster.core.days import parse_day
from ticklake_dagster.core.errors import InvalidInput

DEFAULT_HISTORY_START = "2003-05-01"


def env_text(name: str, default: str | None = None) -> str | None:
    """A variable's value; unset or empty means `default`."""
    return os.environ.get(name) or default


def env_is_set(name: str) -> bool:
    return bool(os.environ.get(name))


def ticklake_home() -> Path:
    """TICKLAKE_HOME (default ./.ticklake): the local lake, the embedded database, the spool, Dagster's home."""
    return Path(env_text("TICKLAKE_HOME") or ".ticklake").resolve()


def configured_dagster_home() -> Path | None:
    """The Dagster instance to report to: DAGSTER_HOME when set, else the one `ticklake dev` prepared, else none.

    Here, not in instance.py, so the CLI learns whether to report without importing Dagster.
    """
    if os.environ.get("DAGSTER_HOME"):
        return Path(os.environ["DAGSTER_HOME"])
    prepared = ticklake_home() / "dagster"
    return prepared if (prepared / "dagster.yaml").is_file() else None


def default_start_date(today: dt.date) -> dt.date:
    """The first of the month twelve months before today's: about a year of daily partitions.

    A month boundary, so the daily window never splits a monthly history partition; it moves once a month.
    """
    return dt.date(today.year - 1, today.month, 1)


def start_date() -> str:
    """TICKLAKE_START_DATE, the first daily partition (days before it are the history path's), as YYYY-MM-DD."""
    text = (
        os.environ.get("TICKLAKE_START_DATE") or default_start_date(dt.datetime.now(dt.timezone.utc).date()).isoformat()
    )
    parse_day(text)
    return text


def history_start() -> str:
    """TICKLAKE_HISTORY_START, the first monthly history partition (Dukascopy's EURUSD begins in May 2003)."""
    text = os.environ.get("TICKLAKE_HISTORY_START") or DEFAULT_HISTORY_START
    parse_day(text)
    return text


def env_number(name: str, default: float, kind: type = float, minimum: float = 0) -> float:
    """A numeric setting from the environment; a bad value is one clear line, not a traceback in a sensor."""
    text = os.environ.get(name)
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise InvalidInput(
            f"Invalid {name}={text!r}: expected {'a whole number' if kind is int else 'a number'}"
        ) from None
    if value < minimum:
        raise InvalidInput(f"Invalid {name}={text!r}: must be at least {minimum:g}")
    return value
