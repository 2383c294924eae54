"""The export's work: one day of ticks in memory at a time, written as CSV or Parquet to a temporary file then renamed.

So an interrupted export never leaves a half file under the final name, and a year of 100k-tick days needs
one day's memory. Session bars that span days (FX's 1d, any 1w) are held until their last day is read.
"""

import contextlib
import os
import sys
import tempfile
from pathlib import Path

import pandas as pd

from ticklake_dagster.candles.output import CANDLES_SCHEMA, TICKS_SCHEMA, Writer, candles_table, ticks_table
from ticklake_dagster.candles.resample import candles_from_ticks, merge_bars, validate_request
from ticklake_dagster.core.errors import InvalidInput
from ticklake_dagster.ticks.reading import iter_ticks, time_range


@contextlib.contextmanager
def destination(out: str):
    """Standard output, or a temporary file beside `out` renamed onto it only once everything is written."""
    if out == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    target = Path(out)
    if not target.parent.is_dir():
        raise InvalidInput(f"Invalid --out {out}: folder {target.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as an ordinary new file (mkstemp's are private)
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _progress(days: int):
    if not sys.stderr.isatty():
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(TextColumn("export"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    progress.start()
    progress.add_task("days", total=days)
    return progress


def export(
    what: str, symbol: str, start: str, end: str | None, fmt: str, out: str, *, timeframe=None, price="mid"
) -> int:
    """Rows written. Ticks: time, bid, ask, bid_volume, ask_volume; candles: time, open, high, low, close,
    trades, bid_volume, ask_volume (volumes empty/null where the ticks had none)."""
    if what == "candles":
        validate_request(timeframe, price)  # before the file is created
    n_days = len(time_range(start, end).days)
    days = iter_ticks(symbol, start, end)
    progress = _progress(n_days)
    rows = 0
    try:
        with destination(out) as stream:
            writer = Writer(stream, fmt, TICKS_SCHEMA if what == "ticks" else CANDLES_SCHEMA)
            pending: pd.DataFrame | None = None  # the latest bar: the next day may still add to it
            for _, ticks in days:
                if what == "ticks":
                    writer.write(ticks_table(ticks))
                    rows += len(ticks)
                else:
                    built = candles_from_ticks(ticks, timeframe, symbol, price)
                    merged = (
                        merge_bars(pd.concat([pending, built], ignore_index=True)) if pending is not None else built
                    )
                    if len(merged):
                        writer.write(candles_table(merged.iloc[:-1]))
                        rows += len(merged) - 1
                        pending = merged.iloc[-1:]
                if progress is not None:
                    progress.advance(progress.task_ids[0])
            if pending is not None:
                writer.write(candles_table(pending))
                rows += len(pending)
            writer.close()
    finally:
        if progress is not None:
            progress.stop()
    return rows
