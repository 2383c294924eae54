"""The history path: a symbol-month compacted day by day and written as candles, through the daily path's functions.

Ownership: a UTC day belongs to exactly one path. Days from TICKLAKE_START_DATE on are the daily
partitions' (the sensor and the 02:00 schedule keep them fresh); earlier days are the monthly history
partitions'. A history run never touches a day the daily path owns, so neither can overwrite the
other's newer work; and both write a day through the same `compact_day` / `build_candles` /
`write_window` (a day at a time in the daily path, a month's owned days at once here), so moving
TICKLAKE_START_DATE hands days over without changing a byte.
"""

import dataclasses
import datetime as dt

import pandas as pd

from ticklake_dagster.candles.building import build_candles
from ticklake_dagster.candles.sql import WriteStats, read_back, refresh_after_write, retention_cutoff, write_window
from ticklake_dagster.core.days import day_window
from ticklake_dagster.lake.keys import RAW_ROOT
from ticklake_dagster.lake.storage import Lake
from ticklake_dagster.ticks.compaction import CompactedDay, compact_day


def month_days(month: dt.date) -> list[dt.date]:
    """Every UTC day of the month that starts on `month`."""
    first = month.replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    return [first + dt.timedelta(days=i) for i in range((following - first).days)]


def history_owned_days(month: dt.date, daily_start: dt.date) -> list[dt.date]:
    """The days of the month the history path owns: those before the daily window starts."""
    return [day for day in month_days(month) if day < daily_start]


def days_with_parts(lake: Lake, symbol: str, month: dt.date) -> set[dt.date]:
    """Days of the symbol-month that have raw parts in the lake: one listing of the month's folder."""
    prefix = f"{RAW_ROOT}{symbol}/{month:%Y}/{month:%m}/"
    found = set()
    for folder in lake.list_dirs(prefix):
        name = folder[len(prefix) :].rstrip("/")
        if name.isdigit() and len(name) == 2:
            try:
                found.add(month.replace(day=int(name)))
            except ValueError:
                continue
    return found


def lake_coverage(lake: Lake, symbol: str, start: dt.date, end: dt.date) -> tuple[list[dt.date], list[dt.date]]:
    """(days with raw parts, days without) for the symbol in [start, end], one listing per month."""
    with_data: list[dt.date] = []
    without: list[dt.date] = []
    month = start.replace(day=1)
    while month <= end:
        present = days_with_parts(lake, symbol, month)
        for day in month_days(month):
            if start <= day <= end:
                (with_data if day in present else without).append(day)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return with_data, without


@dataclasses.dataclass
class MonthResult:
    symbol: str
    month: dt.date
    days: list[CompactedDay]  # the owned days, compacted (empty days included: their file is removed)
    daily_owned: list[dt.date]  # days of the month left to the daily path
    candles: dict[dt.date, pd.DataFrame]  # 5-minute candles built per day with data
    stats: WriteStats | None  # candles_5m rows replaced in the owned window (None: nothing owned)
    stored: dict[dt.date, pd.DataFrame] | None  # each day's 5-minute rows as stored, read back before pruning
    pruned_5m: bool  # the window lies outside TICKLAKE_RETENTION_DAYS: its 5-minute rows were dropped again
    pruned_rows: int = 0

    @property
    def data_days(self) -> list[dt.date]:
        return [d.day for d in self.days if len(d.ticks)]

    @property
    def empty_days(self) -> list[dt.date]:
        return [d.day for d in self.days if not len(d.ticks)]

    @property
    def ticks(self) -> int:
        return sum(len(d.ticks) for d in self.days)

    def metadata(self) -> dict:
        return {
            "days_with_data": len(self.data_days),
            "days_without_data": len(self.empty_days),
            "days_left_to_daily_path": len(self.daily_owned),
            "parts_read": sum(d.parts for d in self.days),
            "ticks_kept": self.ticks,
            "rejected": sum(d.clean.rejected_total for d in self.days),
            "duplicates_removed": sum(d.clean.duplicates for d in self.days),
            "candles_5m_built": sum(len(c) for c in self.candles.values()),
            "candles_5m_kept": 0 if self.stats is None else self.stats.upserted - self.pruned_rows,
            "first_day_with_data": self.data_days[0].isoformat() if self.data_days else None,
            "last_day_with_data": self.data_days[-1].isoformat() if self.data_days else None,
        }


def compact_month(lake: Lake, symbol: str, month: dt.date, daily_start: dt.date) -> MonthResult:
    """Compact every day of the month the history path owns (days without parts lose their compacted file)."""
    owned = history_owned_days(month, daily_start)
    days = [compact_day(lake, symbol, day) for day in owned]
    candles = {d.day: build_candles(d.ticks) for d in days if len(d.ticks)}
    daily_owned = [day for day in month_days(month) if day >= daily_start]
    return MonthResult(symbol, month, days, daily_owned, candles, None, None, False)


def write_month(conn, flavor: str, result: MonthResult, retention_days: int, now: dt.datetime) -> MonthResult:
    """Replace the owned days' candles with the month's (days without ticks lose theirs) in one `write_window`,
    the function `write_day` calls for one day, bring the higher timeframes up to date, then drop the
    5-minute rows that lie before TICKLAKE_RETENTION_DAYS (the higher timeframes stay).

    The owned days are consecutive, so replacing their span at once leaves exactly what replacing them
    day by day would; one transaction and one rollup pass per month instead of per day: the history
    step's candle writes took 28 s instead of 49 s for two years (benchmarks/bench_history_backfill.py).
    """
    owned = [d.day for d in result.days]
    if not owned:
        return result
    start, end = day_window(owned[0])[0], day_window(owned[-1])[1]
    frames = [result.candles[day] for day in owned if day in result.candles]
    candles = pd.concat(frames, ignore_index=True) if frames else build_candles(result.days[0].ticks.iloc[0:0])
    with conn, conn.cursor() as cur:
        stats = write_window(cur, flavor, result.symbol, start, end, candles)
    refresh_after_write(conn, flavor, owned)
    stored = {day: rows for (_, day), rows in read_back(conn, [(result.symbol, day) for day in owned]).items()}
    cutoff = retention_cutoff(now, retention_days)
    removed = prune_5m(conn, result.symbol, start, min(end, cutoff)) if start < cutoff else 0
    return dataclasses.replace(result, stats=stats, stored=stored, pruned_5m=end <= cutoff, pruned_rows=removed)


def prune_5m(conn, symbol: str, start: dt.datetime, end: dt.datetime) -> int:
    """Drop the symbol's 5-minute rows in [start, end) once the higher timeframes hold them: what the nightly
    retention does, limited to the window this run owns (a global retention here would race with other
    runs writing older days whose rollups are not refreshed yet)."""
    with conn, conn.cursor() as cur:
        cur.execute("DELETE FROM candles_5m WHERE symbol = %s AND time >= %s AND time < %s", (symbol, start, end))
        return cur.rowcount
