"""Ticks straight from the lake, and candles as CSV or Parquet: the API's downloads, streamed day by day.

/api/ticks serves at most MAX_TICK_DAYS days per request (a larger window is a 400 saying the limit). The
lake is checked before the first byte is sent, so an unreachable lake is a 503 like everywhere else; a day
that then fails mid-stream ends the body early (a JSON array left open, a Parquet file without its footer).
"""

import io
import json
from collections.abc import Iterator

import pandas as pd
import pyarrow as pa

from ticklake_dagster.candles.from_lake import LakeUnavailable
from ticklake_dagster.candles.output import (
    CANDLES_SCHEMA,
    MEDIA_TYPES,
    TICKS_SCHEMA,
    Writer,
    candles_table,
    ticks_table,
)
from ticklake_dagster.candles.resample import CANDLE_COLUMNS
from ticklake_dagster.core.days import DAY_MS
from ticklake_dagster.core.errors import LakeError
from ticklake_dagster.core.timeframes import VOLUMES
from ticklake_dagster.lake.storage import Lake
from ticklake_dagster.ticks.reading import day_ticks, time_range

MAX_TICK_DAYS = 7
JSON_CHUNK_ROWS = 10_000  # rows per chunk sent: a chunk per row cost more in the server than the JSON itself


def tick_days(lake: Lake, symbol: str, start_s: int, end_s: int):
    """The window's days as (day, start ms, end ms); refuses more than MAX_TICK_DAYS days."""
    span = time_range(pd.Timestamp(start_s, unit="s", tz="UTC"), pd.Timestamp(end_s + 1, unit="s", tz="UTC"))
    if (span.end_ms - span.start_ms) > MAX_TICK_DAYS * DAY_MS:
        raise ValueError(f"Range too large: ticks are served for at most {MAX_TICK_DAYS} days per request")
    return span


def stream_ticks(lake: Lake, symbol: str, start_s: int, end_s: int, fmt: str) -> Iterator[bytes]:
    """The body of /api/ticks, one day at a time; the first day is read before the caller starts sending."""
    span = tick_days(lake, symbol, start_s, end_s)

    def window(day):
        try:
            ticks = day_ticks(lake, symbol, day)
        except LakeError as e:
            raise LakeUnavailable(str(e)) from None
        ts = ticks["ts_ms"]
        return ticks[(ts >= span.start_ms) & (ts < span.end_ms)]

    days = span.days
    first = window(days[0])  # before any byte: an unreachable lake is still a 503

    def body() -> Iterator[bytes]:
        frames = (first if i == 0 else window(day) for i, day in enumerate(days))
        if fmt == "json":
            yield b"["
            sep = b""
            for ticks in frames:
                for start in range(0, len(ticks), JSON_CHUNK_ROWS):
                    yield sep + _json_rows(ticks.iloc[start : start + JSON_CHUNK_ROWS])
                    sep = b","
            yield b"]"
            return
        sink = io.BytesIO()
        writer = Writer(sink, fmt, TICKS_SCHEMA)
        for ticks in frames:
            writer.write(ticks_table(ticks))
            yield _drain(sink)
        writer.close()
        yield _drain(sink)

    return body()


def candles_download(body_json: str, fmt: str) -> bytes:
    """The candles JSON the database (or the lake) answered, as CSV or Parquet with the export's columns."""
    rows = json.loads(body_json)
    frame = pd.DataFrame(rows, columns=list(CANDLE_COLUMNS))
    frame["time"] = pd.to_datetime(frame["time"].astype("int64"), unit="s", utc=True).dt.as_unit("ms")
    frame[list(VOLUMES)] = frame[list(VOLUMES)].astype("float64")  # null volumes arrive as None
    sink = io.BytesIO()
    writer = Writer(sink, fmt, CANDLES_SCHEMA)
    if len(frame):
        writer.write(candles_table(frame))
    writer.close()
    return sink.getvalue()


def media_type(fmt: str) -> str:
    return "application/json" if fmt == "json" else MEDIA_TYPES[fmt]


def _json_rows(ticks: pd.DataFrame) -> bytes:
    """The ticks as JSON objects separated by commas (no brackets), times in epoch milliseconds."""
    table = ticks_table(ticks)
    columns = [table.column(0).cast(pa.int64()).to_pylist()]
    columns += [table.column(name).to_pylist() for name in table.column_names[1:]]
    return json.dumps([dict(zip(table.column_names, row)) for row in zip(*columns)]).encode()[1:-1]


def _drain(sink: io.BytesIO) -> bytes:
    data = sink.getvalue()
    sink.seek(0)
    sink.truncate()
    return data
