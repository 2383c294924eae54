"""Environment settings that are not a single external system's: local state and the partition start."""

import os
from pathlib import Path

from ticklake_dagster.days import parse_day

DEFAULT_START_DATE = "2024-01-01"


def ticklake_home() -> Path:
    """TICKLAKE_HOME (default ./.ticklake): the local lake, the embedded database, the spool, Dagster's home."""
    return Path(os.environ.get("TICKLAKE_HOME") or ".ticklake").resolve()


def start_date() -> str:
    """TICKLAKE_START_DATE, the first daily partition, validated as YYYY-MM-DD."""
    text = os.environ.get("TICKLAKE_START_DATE") or DEFAULT_START_DATE
    parse_day(text)
    return text
