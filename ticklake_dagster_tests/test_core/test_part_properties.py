"""Properties of the part readers over generated parts (Hypothesis, derandomized, a few seconds each).

Any part either fails as a whole with one clear line naming its key, or every row it holds is kept as a
valid tick or counted under exactly one reason; for legacy JSON parts the reason is the one a
row-by-row oracle gives.
"""

import datetime as dt
import io
import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ticklake_dagster.core.days import DAY_MS, day_start_ms
from ticklake_dagster.core.errors import LakeError
from ticklake_dagster.lake.parts import read_part, to_frame
from ticklake_dagster.ticks.validation import MAX_PRICE, REJECT_REASONS, clean_day

DAY = dt.date(2025, 11, 13)
START = day_start_ms(DAY)
PROPERTY = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

in_day_seconds = st.floats(min_value=START / 1000, max_value=(START + DAY_MS) / 1000 - 0.001)
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=1e-6, max_value=2e12),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.integers(min_value=1, max_value=10**6),
)
json_scalars = st.one_of(
    st.none(), st.booleans(), numbers, st.text(max_size=12), numbers.map(str), in_day_seconds.map(str)
)
json_values = st.one_of(
    json_scalars, st.lists(json_scalars, max_size=2), st.dictionaries(st.text(max_size=3), json_scalars, max_size=2)
)
records = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "timestamp": st.one_of(in_day_seconds, json_values, st.just(START)),
            "bid": st.one_of(st.floats(1.0, 1.1), json_values),
            "ask": st.one_of(st.floats(1.1, 1.2), json_values),
            "extra": json_values,
        },
    ),
    json_values,
)


def assert_accounted(result, rows: int) -> None:
    """Every row kept as a valid tick, counted under one reason, or removed as an exact duplicate."""
    assert set(result.rejected) == set(REJECT_REASONS)
    assert result.rows_read == rows
    assert len(result.ticks) + result.rejected_total + result.duplicates == rows
    t = result.ticks
    bid, ask, ts = t["bid"].to_numpy(), t["ask"].to_numpy(), t["ts_ms"].to_numpy()
    assert np.isfinite(bid).all() and np.isfinite(ask).all()
    assert ((bid > 0) & (bid <= ask) & (ask <= MAX_PRICE)).all()
    assert ((ts >= START) & (ts < START + DAY_MS)).all()


def _number(value) -> tuple[float | None, bool]:
    """(float, is a number) of one JSON value as the legacy reader takes it; None for absent/null."""
    if value is None:
        return None, True
    if type(value) in (int, float):
        try:
            return float(value), True
        except OverflowError:
            return math.copysign(math.inf, value), True
    if type(value) is str:
        try:
            return float(value), True
        except ValueError:
            return math.nan, False
    return math.nan, False


def oracle_reason(record) -> str | None:
    """The reason one legacy JSON record is rejected, row by row, or None when it is kept (before dedup)."""
    record = record if isinstance(record, dict) else {}
    (ts, ts_ok), (bid, bid_ok), (ask, ask_ok) = (_number(record.get(k)) for k in ("timestamp", "bid", "ask"))
    if ts is None or bid is None or ask is None:
        return "missing"
    if not (bid_ok and ask_ok):
        return "invalid_price"
    if not ts_ok or not abs(ts) < 1e11:
        return "invalid_timestamp"
    if math.isnan(bid) or math.isnan(ask):
        return "missing"
    if not (math.isfinite(bid) and math.isfinite(ask)):
        return "non_finite"
    if bid <= 0 or ask <= 0:
        return "non_positive"
    if bid > MAX_PRICE or ask > MAX_PRICE:
        return "too_large"
    if bid > ask:
        return "crossed"
    ts_ms = int(np.round(ts * 1000.0))
    if not START <= ts_ms < START + DAY_MS:
        return "outside_day"
    return None


@PROPERTY
@given(st.lists(records, max_size=30))
def test_every_legacy_json_row_is_kept_or_rejected_for_the_oracles_reason(rows):
    data = json.dumps(rows).encode()
    result = clean_day(to_frame([read_part("ticks/X/part-1-a.json", data)]), DAY)
    assert_accounted(result, len(rows))
    expected = {reason: 0 for reason in REJECT_REASONS}
    for row in rows:
        reason = oracle_reason(row)
        if reason:
            expected[reason] += 1
    assert result.rejected == expected


@PROPERTY
@given(st.binary(max_size=200) | st.text(max_size=60).map(str.encode))
def test_any_bytes_as_a_json_part_are_ticks_or_one_clear_line(data):
    try:
        raw = read_part("ticks/X/part-1-a.json", data)
    except LakeError as e:
        assert "ticks/X/part-1-a.json" in str(e) and "\n" not in str(e)
        return
    assert_accounted(clean_day(to_frame([raw]), DAY), raw.num_rows)


_price_types = {
    "float64": (pa.float64(), st.floats(allow_nan=True, allow_infinity=True)),
    "float32": (pa.float32(), st.floats(width=32, allow_nan=True, allow_infinity=True)),
    "int64": (pa.int64(), st.integers(-(2**63), 2**63 - 1)),
    "bool": (pa.bool_(), st.booleans()),
    "decimal": (pa.decimal128(38, 10), st.decimals(min_value=-(10**20), max_value=10**20, places=10, allow_nan=False)),
    "string": (pa.string(), st.text(max_size=5)),
}
_ts_types = {
    "ms": pa.timestamp("ms", tz="UTC"),
    "us": pa.timestamp("us", tz="UTC"),
    "ns": pa.timestamp("ns"),
    "s": pa.timestamp("s", tz="UTC"),
    "int64": pa.int64(),
}


@st.composite
def parquet_parts(draw) -> bytes:
    n = draw(st.integers(0, 20))
    ts_type = _ts_types[draw(st.sampled_from(sorted(_ts_types)))]
    unit = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}.get(getattr(ts_type, "unit", "ms"))
    in_day = st.integers(START // 1000 * unit, (START + DAY_MS) // 1000 * unit)
    limit = 2**63 - 1 if unit >= 1000 else 9_000_000_000_000  # seconds beyond this do not fit int64 ms
    ts = draw(st.lists(st.none() | in_day | st.integers(-limit, limit), min_size=n, max_size=n))
    columns = {"ts": pa.array(ts, ts_type)}
    for name in ("bid", "ask"):
        kind, values = _price_types[draw(st.sampled_from(sorted(_price_types)))]
        columns[name] = pa.array(draw(st.lists(st.none() | values, min_size=n, max_size=n)), kind)
    buf = io.BytesIO()
    pq.write_table(pa.table(columns), buf)
    return buf.getvalue()


@PROPERTY
@given(parquet_parts())
def test_any_parquet_part_is_ticks_or_one_clear_line(data):
    rows = pq.ParquetFile(io.BytesIO(data)).metadata.num_rows
    try:
        raw = read_part("ticks/X/part-1-a.parquet", data)
    except LakeError as e:
        assert "ticks/X/part-1-a.parquet" in str(e) and "\n" not in str(e)
        assert "expected" in str(e)  # the wrong column type is named, nothing else fails a whole part
        return
    result = clean_day(to_frame([raw]), DAY)
    assert_accounted(result, rows)


@PROPERTY
@given(parquet_parts(), st.integers(0, 10_000), st.integers(0, 255))
def test_a_damaged_parquet_part_is_ticks_or_one_clear_line(data, where, byte):
    damaged = bytearray(data)
    damaged[where % len(damaged)] = byte
    try:
        raw = read_part("ticks/X/part-1-a.parquet", bytes(damaged))
    except LakeError as e:
        assert "ticks/X/part-1-a.parquet" in str(e) and "\n" not in str(e)
        return
    assert_accounted(clean_day(to_frame([raw]), DAY), raw.num_rows)
