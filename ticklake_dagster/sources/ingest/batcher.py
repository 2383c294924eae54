"""Per-symbol batches: flushed at `batch_size` ticks or `max_age_s` after their first tick arrived, one part per
UTC day.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable

import numpy as np

from ticklake_dagster.core.days import DAY_MS, day_of_ms
from ticklake_dagster.lake.keys import raw_part_key
from ticklake_dagster.sources.ingest.parse import TickBlock


@dataclasses.dataclass
class Part:
    """One raw part to upload: a symbol-day's ticks (sorted by ts) and the spool segments they came from."""

    symbol: str
    day: dt.date
    key: str
    ts_ms: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    bid_volume: np.ndarray  # NaN where a tick has none
    ask_volume: np.ndarray
    refs: dict[int, int]  # spool segment -> ticks of this part in it

    def __len__(self) -> int:
        return len(self.ts_ms)


@dataclasses.dataclass
class _Pending:
    chunks: list  # (ts, bid, ask, bid_volume, ask_volume, seg) array tuples, in arrival order
    count: int
    since: float  # monotonic arrival of the batch's first tick


class TickBatcher:
    """Collects accepted ticks per symbol and cuts them into parts; single-threaded (the event loop)."""

    def __init__(self, batch_size: int = 1000, max_age_s: float = 300.0, clock: Callable[[], float] = time.monotonic):
        if batch_size < 1 or max_age_s <= 0:
            raise ValueError("batch_size must be >= 1 and max_age_s > 0")
        self.batch_size = batch_size
        self.max_age_s = max_age_s
        self.clock = clock
        self._pending: dict[str, _Pending] = {}

    @property
    def pending_ticks(self) -> int:
        return sum(p.count for p in self._pending.values())

    def add(self, block: TickBlock, segment: int) -> list[Part]:
        """Take a committed block; return the parts of every batch that reached batch_size."""
        now = self.clock()
        parts: list[Part] = []
        for symbol, rows in block.per_symbol():
            seg = np.full(len(rows), segment, dtype="int32")
            chunk = (
                block.ts_ms[rows],
                block.bid[rows],
                block.ask[rows],
                block.bid_volume[rows],
                block.ask_volume[rows],
                seg,
            )
            pending = self._pending.get(symbol)
            if pending is None:
                pending = self._pending[symbol] = _Pending([], 0, now)
            pending.chunks.append(chunk)
            pending.count += len(rows)
            if pending.count >= self.batch_size:
                columns = _concat(pending.chunks)
                full = (len(columns[0]) // self.batch_size) * self.batch_size
                for i in range(0, full, self.batch_size):
                    j = i + self.batch_size
                    parts += split_by_day(symbol, *(c[i:j] for c in columns))
                if full == len(columns[0]):
                    del self._pending[symbol]
                else:  # the rest arrived in this block, so its age starts now
                    rest = tuple(c[full:] for c in columns)
                    self._pending[symbol] = _Pending([rest], len(rest[0]), now)
        return parts

    def due(self) -> list[Part]:
        """Parts of every batch older than max_age_s."""
        now = self.clock()
        old = [s for s, p in self._pending.items() if now - p.since >= self.max_age_s]
        return self._take(old)

    def flush_all(self) -> list[Part]:
        return self._take(list(self._pending))

    def next_due_in(self) -> float | None:
        """Seconds until the oldest batch is due (None when nothing is pending)."""
        if not self._pending:
            return None
        return max(0.0, min(p.since for p in self._pending.values()) + self.max_age_s - self.clock())

    def _take(self, symbols: list[str]) -> list[Part]:
        parts: list[Part] = []
        for symbol in symbols:
            pending = self._pending.pop(symbol)
            parts += split_by_day(symbol, *_concat(pending.chunks))
        return parts


def _concat(chunks: list) -> tuple[np.ndarray, ...]:
    if len(chunks) == 1:
        return chunks[0]
    return tuple(np.concatenate(col) for col in zip(*chunks))


def split_by_day(
    symbol: str,
    ts: np.ndarray,
    bid: np.ndarray,
    ask: np.ndarray,
    bid_volume: np.ndarray,
    ask_volume: np.ndarray,
    segs: np.ndarray,
) -> list[Part]:
    """One part per UTC day the batch touches, each sorted by ts (stable), keyed by its first tick."""
    order = np.argsort(ts, kind="stable")
    ts, bid, ask, segs = ts[order], bid[order], ask[order], segs[order]
    bid_volume, ask_volume = bid_volume[order], ask_volume[order]
    days = ts // DAY_MS
    bounds = np.flatnonzero(np.diff(days)) + 1
    parts = []
    for rows in np.split(np.arange(len(ts)), bounds) if len(bounds) else [slice(None)]:
        part_ts = ts[rows]
        if not len(part_ts):
            continue
        day = day_of_ms(int(part_ts[0]))
        seq, counts = np.unique(segs[rows], return_counts=True)
        parts.append(
            Part(
                symbol,
                day,
                raw_part_key(symbol, day, int(part_ts[0])),
                part_ts,
                bid[rows],
                ask[rows],
                bid_volume[rows],
                ask_volume[rows],
                {int(s): int(c) for s, c in zip(seq, counts)},
            )
        )
    return parts
