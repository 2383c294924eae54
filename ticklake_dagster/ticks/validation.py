"""The day's tick validation: every row counted under the first rule it fails, exact duplicates dropped, ts-sorted."""

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd

from ticklake_dagster.core.days import DAY_MS, day_start_ms
from ticklake_dagster.lake.parts import BAD_PRICE_TS, BAD_TS, FLAGGED_BELOW, NO_TS

# Each rejected row is counted once, under the first of these reasons it fails. The first three are
# found by the part readers (a price that is a bool or text, a timestamp that is not unix seconds).
REJECT_REASONS = (
    "missing",
    "invalid_price",
    "invalid_timestamp",
    "non_finite",
    "non_positive",
    "too_large",
    "crossed",
    "outside_day",
)
# Far above any traded price, far below where sums of a day's prices overflow float64 into Infinity.
MAX_PRICE = 1e12


@dataclasses.dataclass
class CleanDay:
    """A validated, deduplicated, ts-sorted day of ticks and what was removed on the way."""

    ticks: pd.DataFrame  # ts_ms, bid, ask
    rows_read: int
    rejected: dict[str, int]
    duplicates: int

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


def clean_day(raw: pd.DataFrame, day: dt.date) -> CleanDay:
    """Drop invalid rows (counted by reason), drop exact duplicate ticks, stable-sort by ts."""
    ts, bid, ask = raw["ts_ms"].to_numpy(), raw["bid"].to_numpy(), raw["ask"].to_numpy()
    start = day_start_ms(day)
    bad = np.zeros(len(ts), dtype=bool)
    rejected: dict[str, int] = {}

    def take(reason: str, mask: np.ndarray) -> None:
        nonlocal bad
        mask = mask & ~bad
        rejected[reason] = int(mask.sum())
        bad |= mask

    with np.errstate(invalid="ignore"):
        # A reader's verdict stands: a bool price it read as NaN is invalid_price, not missing.
        take("missing", (ts == NO_TS) | ((ts >= FLAGGED_BELOW) & (np.isnan(bid) | np.isnan(ask))))
        take("invalid_price", ts == BAD_PRICE_TS)
        take("invalid_timestamp", ts == BAD_TS)
        take("non_finite", ~(np.isfinite(bid) & np.isfinite(ask)))
        take("non_positive", (bid <= 0) | (ask <= 0))
        take("too_large", (bid > MAX_PRICE) | (ask > MAX_PRICE))
        take("crossed", bid > ask)
        take("outside_day", (ts < start) | (ts >= start + DAY_MS))
    kept = raw.loc[~bad]
    ticks = _dedup_sort(kept, ts[~bad])
    return CleanDay(ticks=ticks, rows_read=len(raw), rejected=rejected, duplicates=len(kept) - len(ticks))


def _dedup_sort(kept: pd.DataFrame, ts: np.ndarray) -> pd.DataFrame:
    """Exact duplicates dropped (first kept), stable-sorted by ts."""
    if len(ts) and bool(np.all(ts[1:] >= ts[:-1])):
        return _drop_duplicates_sorted(kept, ts)  # parts arrive in time order: no sort needed
    return kept.drop_duplicates(ignore_index=True).sort_values("ts_ms", kind="stable", ignore_index=True)


def _drop_duplicates_sorted(kept: pd.DataFrame, ts: np.ndarray) -> pd.DataFrame:
    """`drop_duplicates` of ts-sorted rows, comparing only rows that share their ts with a neighbour."""
    same = ts[1:] == ts[:-1]
    shared = np.zeros(len(ts), dtype=bool)
    shared[1:] |= same
    shared[:-1] |= same
    duplicate = np.zeros(len(ts), dtype=bool)
    if shared.any():
        duplicate[shared] = kept.loc[shared].duplicated().to_numpy()
    return kept.loc[~duplicate].reset_index(drop=True)
