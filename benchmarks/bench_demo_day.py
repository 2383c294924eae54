"""One demo-rate symbol-day (`ticklake seed-demo --rate 1`: ~86k ticks in 288 parts) from raw parts to candles.

Times the per-day plain work of a UI backfill — compact_day (list, read, validate, write the compacted
day), build_candles, write_day to PostgreSQL — next to the previous path (one decode, cast and mask per
part; pandas drop_duplicates + sort over the day) in the same run, and projects a year of 5 FX symbols
(1,305 weekday symbol-days).
Usage: python benchmarks/bench_demo_day.py [--repeat 3] (DATABASE_URL, or an embedded PostgreSQL).
"""

import argparse
import contextlib
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ticklake_dagster.candles.building import build_candles  # noqa: E402
from ticklake_dagster.candles.database import stop_embedded_server  # noqa: E402
from ticklake_dagster.candles.sql import write_day  # noqa: E402
from ticklake_dagster.defs.resources import DatabaseResource  # noqa: E402
from ticklake_dagster.lake.keys import raw_part_key  # noqa: E402
from ticklake_dagster.lake.parts import _convert_parquet, _decode_parquet, _guarded, ticks_to_parquet, to_frame  # noqa: E402
from ticklake_dagster.lake.storage import FileLake  # noqa: E402
from ticklake_dagster.sources.synthetic import batch_bounds, generate_day  # noqa: E402
from ticklake_dagster.ticks import compaction, validation  # noqa: E402
from ticklake_dagster.ticks.compaction import CompactedDay, compact_day  # noqa: E402

SYMBOL, DAY = "EURUSD", dt.date(2025, 11, 13)
YEAR_SYMBOL_DAYS = 1305


def per_part_read_parts(lake, keys: list[str]) -> pd.DataFrame:
    """The previous reader: fetch every part, then decode, cast and mask each part on its own."""
    blobs = [lake.get(k) for k in keys]
    return to_frame([_guarded(k, lambda b: _convert_parquet(_decode_parquet(b)), b) for k, b in zip(keys, blobs)])


def pandas_dedup_sort(kept: pd.DataFrame, ts) -> pd.DataFrame:
    """The previous dedup: pandas drop_duplicates over the whole day, then a stable sort."""
    return kept.drop_duplicates(ignore_index=True).sort_values("ts_ms", kind="stable", ignore_index=True)


def previous_path():
    """The per-day path as it was: the per-part reader and a full dedup + sort."""
    stack = contextlib.ExitStack()
    stack.enter_context(mock.patch.object(compaction, "read_parts", per_part_read_parts))
    stack.enter_context(mock.patch.object(validation, "_dedup_sort", pandas_dedup_sort))
    return stack


def one_day(lake: FileLake, conn, flavor: str) -> tuple[float, float, float, CompactedDay]:
    t0 = time.perf_counter()
    day = compact_day(lake, SYMBOL, DAY)
    t1 = time.perf_counter()
    candles = build_candles(day.ticks)
    write_day(conn, flavor, SYMBOL, DAY, candles)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, t2 - t0, day


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        lake = FileLake(Path(tmp) / "lake")
        ts, bid, ask = generate_day(SYMBOL, DAY, rate=1)
        bounds = batch_bounds(ts)
        for i, j in bounds:
            lake.put(raw_part_key(SYMBOL, DAY, int(ts[i])), ticks_to_parquet(ts[i:j], bid[i:j], ask[i:j]))
        database = DatabaseResource(url=os.environ.get("DATABASE_URL"), home=tmp)
        flavor = database.ensure_schema()
        print(f"{len(ts):,} ticks in {len(bounds)} parts; database {database.describe()} ({flavor})")
        best: dict[str, tuple] = {}
        files: dict[str, bytes] = {}
        with database.connect() as conn:
            for _ in range(args.repeat):  # interleaved, so both see the same machine load
                for name in ("before (per part, pandas dedup)", "now (batched, presorted)"):
                    with previous_path() if "before" in name else contextlib.nullcontext():
                        compact, candles, total, day = one_day(lake, conn, flavor)
                    files[name] = lake.get(day.key)
                    if name not in best or total < best[name][2]:
                        best[name] = (compact, candles, total, day)
        before, now = best.values()
        assert before[3].ticks.equals(now[3].ticks) and before[3].metadata() == now[3].metadata()
        assert len(set(files.values())) == 1, "compacted files differ"
        print(f"\n{'per-day path':<32}{'compact_day':>12}{'candles+PG':>12}{'per day':>10}{'1,305 days':>12}")
        for name, (compact, candles, total, _) in best.items():
            print(f"{name:<32}{compact:>11.3f}s{candles:>11.3f}s{total:>9.3f}s{total * YEAR_SYMBOL_DAYS:>11.0f}s")
        print(
            f"speed-up per day: {before[2] / now[2]:.2f}x (best of {args.repeat}; identical ticks, metadata and file)"
        )
        if not os.environ.get("DATABASE_URL"):
            stop_embedded_server(Path(tmp) / "pg")


if __name__ == "__main__":
    main()
