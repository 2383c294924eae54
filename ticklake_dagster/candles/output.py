"""Ticks and candles as Arrow tables, written as CSV or Parquet table by table: what `ticklake export` and the
API's csv/parquet answers write, so both give the same columns and time formats.

CSV times are ISO 8601 UTC with milliseconds (`2025-11-13T00:00:00.123Z`); Parquet's are timestamp[ms, UTC].
Volumes are null where the ticks had none.
"""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ticklake_dagster.core.timeframes import VOLUMES

FORMATS = ("csv", "parquet")
MEDIA_TYPES = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}

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
        """Parquet's footer; for a CSV without a row, its header alone."""
        if self.parquet is not None:
            self.parquet.close()
        elif self.header:
            pacsv.write_csv(self.schema.empty_table(), self.stream)
