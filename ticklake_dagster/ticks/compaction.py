"""Compaction: a symbol-day's raw parts read, validated, deduplicated and written as its one compacted file.

The r2_ticks asset, `ticklake materialize` and the history path all call `compact_day`.
"""

import dataclasses
import datetime as dt

import pandas as pd

from ticklake_dagster.core.days import iso_ms
from ticklake_dagster.lake.keys import daily_key, is_part_name, raw_day_prefix
from ticklake_dagster.lake.parts import daily_table, read_daily, read_parts_data, table_to_parquet, to_frame
from ticklake_dagster.lake.storage import Lake
from ticklake_dagster.ticks.validation import CleanDay, clean_day


@dataclasses.dataclass
class CompactedDay:
    symbol: str
    day: dt.date
    parts: int
    part_bytes: int
    clean: CleanDay
    key: str
    bytes_written: int

    @property
    def ticks(self) -> pd.DataFrame:
        return self.clean.ticks

    def metadata(self) -> dict:
        ts = self.ticks["ts_ms"]
        return {
            "parts_read": self.parts,
            "rows_read": self.clean.rows_read,
            "ticks_kept": len(self.ticks),
            "duplicates_removed": self.clean.duplicates,
            **{f"rejected_{reason}": n for reason, n in self.clean.rejected.items()},
            "bytes_written": self.bytes_written,
            "first_tick": iso_ms(ts.iloc[0]) if len(ts) else None,
            "last_tick": iso_ms(ts.iloc[-1]) if len(ts) else None,
        }


def list_parts(lake: Lake, symbol: str, day: dt.date) -> list[tuple[str, int]]:
    """(key, size) of every raw part of the symbol-day, in key order (= first-tick order).

    Only `DD/part-*.parquet|json` counts: other names and anything in a sub-folder of the day are not parts.
    """
    prefix = raw_day_prefix(symbol, day)
    return [(o.key, o.size) for o in lake.list(prefix) if is_part_name(o.key[len(prefix) :])]


def read_parts(lake: Lake, keys: list[str]) -> pd.DataFrame:
    """Every part's ticks, concatenated in key order."""
    return to_frame([read_parts_data(list(zip(keys, lake.get_many(keys))))])


def compact_day(lake: Lake, symbol: str, day: dt.date, *, write: bool = True) -> CompactedDay:
    """Read every raw part of the day, validate, deduplicate, sort, and write the compacted day.

    A day whose parts are gone has its compacted file removed too: ticks_daily/ always mirrors ticks/.
    """
    parts = list_parts(lake, symbol, day)
    raw = read_parts(lake, [k for k, _ in parts])
    clean = clean_day(raw, day)
    key = daily_key(symbol, day)
    written = 0
    if write and parts:
        data = table_to_parquet(daily_table(clean.ticks))
        lake.put(key, data)
        written = len(data)
    elif write:
        lake.delete(key)
    return CompactedDay(symbol, day, len(parts), sum(s for _, s in parts), clean, key, written)


def load_compacted(lake: Lake, symbol: str, day: dt.date) -> pd.DataFrame:
    """The compacted day's ticks, or an empty frame when r2_ticks found no parts for it."""
    key = daily_key(symbol, day)
    if not lake.exists(key):
        return read_parts(lake, [])
    return read_daily(lake.get(key))
