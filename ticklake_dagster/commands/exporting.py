"""The export's work: one day of ticks in memory at a time, written as CSV or Parquet to a temporary file then renamed.

So an interrupted export never leaves a half file under the final name, and a year of 100k-tick days needs
one day's memory. Session bars that span days (FX's 1d, any 1w) are held until their last day is read.
"""

import contextlib
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ticklake_dagster.candles.resample import ANY_TIMEFRAME, PRICES, candles_from_ticks, merge_bars
from ticklake_dagster.core.errors import InvalidInput
from ticklake_dagster.lake.parts import VOLUMES
from ticklake_dagster.ticks.reading import iter_ticks, time_range

TIME = pa.timestamp("ms", tz="UTC")
TICKS_SCHEMA = pa.schema(
    [("time", TIME), ("bid", pa.float64()), ("ask", pa.float64())] + [(v, pa.float64()) for v in VOLUMES]
)
CANDLES_SCHEMA = pa.schema(
    [("time", TIME), ("open", pa.float64()), ("high", pa.float64()), ("low", pa.float64()), ("close", pa.float64())]
    + [("trades", pa.int64())]
    + [(v, pa.float64()) for v in VOLUMES]
)


def _nullable(values: np.ndarray) -> pa.Array:
    return pa.array(values, pa.float64(), mask=np.isnan(values))


def ticks_table(ticks: pd.DataFrame) -> pa.Table:
    columns = [
        pa.array(ticks["ts_ms"].to_numpy(dtype="int64")).cast(TIME),
        pa.array(ticks["bid"].to_numpy(dtype="float64")),
        pa.array(ticks["ask"].to_numpy(dtype="float64")),
    ]
    columns += [_nullable(ticks[v].to_numpy(dtype="float64")) for v in VOLUMES]
    return pa.table(columns, schema=TICKS_SCHEMA)


def candles_table(candles: pd.DataFrame) -> pa.Table:
    columns = [pa.array(candles["time"].astype("int64").to_numpy()).cast(TIME)]
    columns += [pa.array(candles[c].to_numpy(dtype="float64")) for c in ("open", "high", "low", "close")]
    columns.append(pa.array(candles["trades"].to_numpy(dtype="int64")))
    columns += [_nullable(candles[v].to_numpy(dtype="float64")) for v in VOLUMES]
    return pa.table(columns, schema=CANDLES_SCHEMA)


class Writer:
    """CSV (ISO 8601 times with milliseconds, Z) or Parquet (timestamp[ms, UTC]), table by table."""

    def __init__(self, stream, fmt: str, schema: pa.Schema):
        self.fmt, self.schema, self.stream = fmt, schema, stream
        self.parquet = pq.ParquetWriter(stream, schema, compression="zstd") if fmt == "parquet" else None
        self.header = True

    def write(self, table: pa.Table) -> None:
        if not table.num_rows:
            return
        if self.parquet is not None:
            self.parquet.write_table(table)
            return
        # Arrow's %S carries the milliseconds of a timestamp[ms]; the column is UTC
        iso = pc.strftime(table.column("time"), format="%Y-%m-%dT%H:%M:%SZ")
        shown = table.set_column(0, "time", iso)
        options = pacsv.WriteOptions(include_header=self.header)
        pacsv.write_csv(shown, self.stream, write_options=options)
        self.header = False

    def close(self) -> None:
        if self.parquet is not None:
            self.parquet.close()


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
    if what == "candles" and timeframe not in ANY_TIMEFRAME:
        raise InvalidInput(f"Invalid timeframe {timeframe!r}: expected one of {' '.join(ANY_TIMEFRAME)}")
    if price not in PRICES:
        raise InvalidInput(f"Invalid price {price!r}: expected mid, bid or ask")
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
