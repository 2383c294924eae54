"""Raw tick parts and compacted days in and out of the lake: Parquet and legacy JSON, columnar, no per-tick loops.

A tick is (ts timestamp[ms, UTC], bid float64, ask float64), with the source's bid and ask volumes where
it has them (Dukascopy's parts do, the ingester's if its feed sent any; legacy JSON ones don't). Parts are Parquet
(zstd) as the ingester writes them, or the legacy JSON arrays `[{"timestamp": unix seconds, "bid", "ask"}, ...]`.
A row a reader cannot take is kept, marked in ts_ms, for `ticks.validation` to count under its reason.
A compacted day always has the volume columns, null where its ticks had none.

pandas is imported only by the readers that return frames: writing parts (`ticklake seed-demo`, the ingester)
needs numpy and pyarrow alone, and pandas is the costliest import of the three (~0.5 s of CPU).
"""

from __future__ import annotations

import io
import json
import math
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ticklake_dagster.core.errors import LakeError
from ticklake_dagster.core.timeframes import VOLUMES

if TYPE_CHECKING:
    import pandas as pd

TICK_SCHEMA = pa.schema(
    [
        pa.field("ts", pa.timestamp("ms", tz="UTC"), nullable=False),
        pa.field("bid", pa.float64(), nullable=False),
        pa.field("ask", pa.float64(), nullable=False),
    ]
)


# The compacted day's schema: the tick, then its volumes (null where the source had none).
DAILY_SCHEMA = pa.schema([*TICK_SCHEMA, *(pa.field(name, pa.float64(), nullable=True) for name in VOLUMES)])


def ticks_to_parquet(
    ts_ms: np.ndarray,
    bid: np.ndarray,
    ask: np.ndarray,
    bid_volume: np.ndarray | None = None,
    ask_volume: np.ndarray | None = None,
) -> bytes:
    """Encode ticks as a raw part (the ingester's and seed-demo's format).

    Volumes (NaN where a tick has none) add nullable bid_volume and ask_volume columns (null where NaN)
    when any tick has one; otherwise the part keeps the three tick columns.
    """
    table = pa.table(
        [
            _from_numpy(np.asarray(ts_ms, dtype="int64"), TICK_SCHEMA.field("ts").type),
            _from_numpy(np.asarray(bid, dtype="float64"), pa.float64()),
            _from_numpy(np.asarray(ask, dtype="float64"), pa.float64()),
        ],
        schema=TICK_SCHEMA,
    )
    volumes = [
        np.full(len(table), np.nan) if v is None else np.asarray(v, dtype="float64") for v in (bid_volume, ask_volume)
    ]
    if not all(np.isnan(v).all() for v in volumes):
        nullable = [_from_numpy(v, pa.float64(), null=np.isnan(v)) for v in volumes]
        table = pa.table([*table.columns, *nullable], schema=DAILY_SCHEMA)
    return table_to_parquet(table)


def _from_numpy(values: np.ndarray, kind: pa.DataType, null: np.ndarray | None = None) -> pa.Array:
    """A 1-d int64 or float64 array as an Arrow array of `kind` with the same 8-byte layout (int64 for a
    timestamp), sharing its memory; null where `null` is True.

    Why not pa.array(...).cast(...): pa.array asks pandas whether the values are a categorical, importing
    pandas (~0.5 s of CPU), and cast imports pyarrow.compute (~0.1 s), in a process that needs neither,
    such as `ticklake seed-demo`.
    """
    values = np.ascontiguousarray(values)
    assert values.ndim == 1 and values.dtype.itemsize == kind.bit_width // 8 == 8, (values.dtype, kind)
    validity, null_count = None, 0
    if null is not None and null.any():
        validity, null_count = pa.py_buffer(np.packbits(~null, bitorder="little")), int(null.sum())
    return pa.Array.from_buffers(kind, len(values), [validity, pa.py_buffer(values)], null_count=null_count)


def table_to_parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


# A row a part reader rejected carries its reason in ts_ms, as one of these values no real tick has.
NO_TS = np.iinfo("int64").min  # a missing field
BAD_PRICE_TS = NO_TS + 1  # a price that is not a number (a bool, an object, non-numeric text)
BAD_TS = NO_TS + 2  # a timestamp that is not unix seconds (epoch ms, ISO text, a bool)
FLAGGED_BELOW = NO_TS + 3
RAW_SCHEMA = pa.schema(
    [("ts_ms", pa.int64()), ("bid", pa.float64()), ("ask", pa.float64()), *((name, pa.float64()) for name in VOLUMES)]
)


def read_part(key: str, data: bytes) -> pa.Table:
    """One part as an Arrow table ts_ms (int64), bid, ask, bid_volume, ask_volume (float64, NaN where missing)."""
    return read_parts_data([(key, data)])


def read_parts_data(parts: list[tuple[str, bytes]]) -> pa.Table:
    """(key, bytes) parts, concatenated in order, as one RAW_SCHEMA table: exactly `read_part` of each.

    Why batched: a day is ~300 parts of ~300 ticks, where per-part casts and masks cost more than the
    decoding; consecutive Parquet parts with one schema are concatenated and converted in one go.
    """
    tables: list[pa.Table] = []
    run: list[tuple[str, pa.Table]] = []
    for key, data in parts:
        if key.endswith(".json"):
            tables.extend(_convert_run(run))
            run = []
            tables.append(_guarded(key, _read_json_part, data))
            continue
        decoded = _guarded(key, _decode_parquet, data)
        if run and decoded.schema != run[0][1].schema:
            tables.extend(_convert_run(run))
            run = []
        run.append((key, decoded))
    tables.extend(_convert_run(run))
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables) if tables else RAW_SCHEMA.empty_table()


def _guarded(key: str, fn, arg):
    try:
        return fn(arg)
    except Exception as e:
        reason = str(e).splitlines()[0][:200] if str(e) else ""
        raise LakeError(f"Unreadable tick part {key}: {type(e).__name__}: {reason}") from None


def _convert_run(run: list[tuple[str, pa.Table]]) -> list[pa.Table]:
    """Decoded Parquet parts sharing one schema, converted together (part by part if that fails, to name it)."""
    if not run:
        return []
    if len(run) > 1:
        try:
            return [_convert_parquet(pa.concat_tables([t for _, t in run]))]
        except Exception:
            pass
    return [_guarded(key, _convert_parquet, table) for key, table in run]


def _read_parquet_part(data: bytes) -> pa.Table:
    return _convert_parquet(_decode_parquet(data))


def _decode_parquet(data: bytes) -> pa.Table:
    """The part's ts/bid/ask columns (and volumes, when it has them) as stored, after checking their types."""
    # ParquetFile.read is ~4x faster than read_table on small files (no dataset discovery).
    file = pq.ParquetFile(pa.BufferReader(data))
    volumes = [name for name in VOLUMES if name in file.schema_arrow.names]
    table = file.read(columns=["ts", "bid", "ask", *volumes], use_threads=False)
    ts = table.column("ts")
    if not pa.types.is_timestamp(ts.type):
        raise ValueError(f"column ts has type {ts.type}, expected timestamp")
    for name in ("bid", "ask"):
        kind = table.column(name).type
        if not (
            pa.types.is_boolean(kind)
            or pa.types.is_integer(kind)
            or pa.types.is_floating(kind)
            or pa.types.is_decimal(kind)
        ):
            raise ValueError(f"column {name} has type {kind}, expected a number")
    return table


def _convert_parquet(table: pa.Table) -> pa.Table:
    ts = table.column("ts")
    ts_ms = ts.cast(pa.timestamp("ms", tz=ts.type.tz), safe=False).cast(pa.int64()).fill_null(NO_TS).to_numpy()
    bid, bid_null, bid_bad = _parquet_prices(table.column("bid"), "bid")
    ask, ask_null, ask_bad = _parquet_prices(table.column("ask"), "ask")
    flagged = _flag(ts_ms, bid_null | ask_null, bid_bad | ask_bad, None)
    return pa.table([flagged, bid, ask, *_volumes(table)], schema=RAW_SCHEMA)


def _volumes(table: pa.Table) -> list[np.ndarray]:
    """Each volume column as float64, NaN where the part has none (or a cell is null or not a number)."""
    out = []
    for name in VOLUMES:
        if name not in table.column_names:
            out.append(np.full(table.num_rows, np.nan))
            continue
        column = table.column(name)
        if pa.types.is_integer(column.type) or pa.types.is_floating(column.type) or pa.types.is_decimal(column.type):
            out.append(column.cast(pa.float64(), safe=False).fill_null(np.nan).to_numpy())
        else:
            out.append(np.full(table.num_rows, np.nan))
    return out


def _parquet_prices(column: pa.ChunkedArray, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float64 prices (NaN where null), a mask of nulls, a mask of cells that hold no number (bools)."""
    kind = column.type
    null = column.is_null().to_numpy(zero_copy_only=False)
    if pa.types.is_boolean(kind):
        return np.full(len(column), np.nan), null, ~null
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)):
        raise ValueError(f"column {name} has type {kind}, expected a number")
    prices = column.cast(pa.float64(), safe=False).fill_null(np.nan).to_numpy()
    return prices, null, np.zeros(len(column), dtype=bool)


def _flag(ts_ms: np.ndarray, missing: np.ndarray, bad_price: np.ndarray, bad_ts: np.ndarray | None) -> np.ndarray:
    """ts_ms with each row a reader rejects replaced by its reason's marker (missing first)."""
    out = ts_ms.copy()
    if bad_ts is not None:
        out[bad_ts] = BAD_TS
    out[bad_price] = BAD_PRICE_TS
    out[missing] = NO_TS
    return out


_ABSENT = object()
_NUMBER_TYPES = frozenset({int, float})


def _read_json_part(data: bytes) -> pa.Table:
    records = json.loads(data)  # the stdlib: 1e999 and NaN parse (rejected per tick), 10**400 stays an int
    if not isinstance(records, list):
        raise ValueError("legacy JSON part is not an array of ticks")
    rows = [r if isinstance(r, dict) else {} for r in records]
    seconds, ts_missing, ts_bad = _json_numbers([r.get("timestamp") for r in rows])
    bid, bid_missing, bid_bad = _json_numbers([r.get("bid") for r in rows])
    ask, ask_missing, ask_bad = _json_numbers([r.get("ask") for r in rows])
    with np.errstate(invalid="ignore"):
        ts_bad |= ~ts_missing & ~(np.abs(seconds) < 1e11)  # epoch ms, NaN, +-inf: not unix seconds
    ts_ms = np.zeros(len(rows), dtype="int64")
    ok = ~(ts_missing | ts_bad)
    ts_ms[ok] = np.round(seconds[ok] * 1000.0).astype("int64")
    flagged = _flag(ts_ms, ts_missing | bid_missing | ask_missing, bid_bad | ask_bad, ts_bad)
    no_volume = np.full(len(rows), np.nan)
    return pa.table([flagged, bid, ask, no_volume, no_volume], schema=RAW_SCHEMA)


def _json_numbers(values: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float64 of JSON values (numbers and numeric text), a mask of absent/null ones, a mask of non-numbers.

    All-number columns (the common case) convert in one numpy call; only a column holding something
    else is looked at value by value.
    """
    n = len(values)
    if set(map(type, values)) <= _NUMBER_TYPES:
        try:
            return np.array(values, dtype="float64"), np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        except OverflowError:  # an integer beyond float64: +-inf below, rejected as non_finite
            pass
    out, missing, bad = np.full(n, np.nan), np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    for i, v in enumerate(values):
        kind = type(v)
        if v is None:
            missing[i] = True
        elif kind is int or kind is float:
            try:
                out[i] = float(v)
            except OverflowError:
                out[i] = math.inf if v > 0 else -math.inf
        elif kind is str:
            try:
                out[i] = float(v)
            except ValueError:
                bad[i] = True
        else:
            bad[i] = True
    return out, missing, bad


def to_frame(tables: list[pa.Table]) -> pd.DataFrame:
    """Concatenate parts (in order) into one RAW_SCHEMA frame, converting to numpy once."""
    import pandas as pd

    table = pa.concat_tables(tables) if tables else RAW_SCHEMA.empty_table()
    return pd.DataFrame({name: table.column(name).to_numpy() for name in RAW_SCHEMA.names})


def daily_table(ticks: pd.DataFrame) -> pa.Table:
    """The compacted day as written to ticks_daily/ (DAILY_SCHEMA), in the frame's order; NaN volumes are null."""
    volumes = []
    for name in VOLUMES:
        values = ticks[name].to_numpy(dtype="float64") if name in ticks else np.full(len(ticks), np.nan)
        volumes.append(pa.array(values, pa.float64(), mask=np.isnan(values)))
    return pa.table(
        [
            pa.array(ticks["ts_ms"].to_numpy(), pa.int64()).cast(TICK_SCHEMA.field("ts").type),
            pa.array(ticks["bid"].to_numpy(), pa.float64()),
            pa.array(ticks["ask"].to_numpy(), pa.float64()),
            *volumes,
        ],
        schema=DAILY_SCHEMA,
    )


def read_daily(data: bytes) -> pd.DataFrame:
    """A compacted day back as RAW_SCHEMA columns (a day compacted before volumes were kept reads NaN volumes).

    A file r2_ticks wrote (ts, bid, ask non-null, the volume columns or none) is converted column by column
    without the raw parts' checks, and handed to pandas without copying into one block per dtype: the
    reader's cost is then close to the Parquet decode. Anything else takes the raw parts' careful path.
    """
    table = pq.ParquetFile(pa.BufferReader(data)).read(use_threads=False)
    names = table.column_names
    if names[:3] != ["ts", "bid", "ask"] or not set(names[3:]) <= set(VOLUMES) or not _is_clean(table):
        return to_frame([_read_parquet_part(data)])
    columns = [table.column("ts").cast(pa.int64()), table.column("bid"), table.column("ask")]
    for name in VOLUMES:
        columns.append(
            table.column(name).fill_null(np.nan) if name in names else pa.array(np.full(table.num_rows, np.nan))
        )
    return pa.table(columns, schema=RAW_SCHEMA).to_pandas(split_blocks=True)


def _is_clean(table: pa.Table) -> bool:
    """The compacted day's own types and no nulls in ts/bid/ask (what daily_table writes)."""
    ts, bid, ask = (table.column(n) for n in ("ts", "bid", "ask"))
    return (
        ts.type == TICK_SCHEMA.field("ts").type
        and bid.type == ask.type == pa.float64()
        and ts.null_count == bid.null_count == ask.null_count == 0
        and all(table.column(n).type == pa.float64() for n in table.column_names[3:])
    )
