"""Per-day log lines gathered into a few log events per step.

Every `context.log` call is a row in Dagster's event log (one PostgreSQL write), so a 180-day backfill
run that logs each day writes 180 rows per step. Lines are logged together instead, at most every
`every_s` seconds so a long run still shows progress, and whatever is gathered when the step ends
(or fails) is logged then.
"""

import time
from collections.abc import Callable


class BatchedLog:
    def __init__(self, log: Callable[[str], None], every_s: float = 15.0, clock: Callable[[], float] = time.monotonic):
        self._log = log
        self._every_s = every_s
        self._clock = clock
        self._lines: list[str] = []
        self._last = clock()

    def add(self, line: str) -> None:
        self._lines.append(line)
        if self._clock() - self._last >= self._every_s:
            self.flush()

    def flush(self) -> None:
        if self._lines:
            self._log("\n".join(self._lines))
            self._lines = []
        self._last = self._clock()

    def __enter__(self) -> "BatchedLog":
        return self

    def __exit__(self, *exc) -> None:
        self.flush()
