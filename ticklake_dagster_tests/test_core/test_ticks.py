import io
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ticklake_dagster.core.days import day_start_ms
from ticklake_dagster.core.errors import LakeError
from ticklake_dagster.lake.parts import TICK_SCHEMA, read_part, read_parts_data, ticks_to_parquet, to_frame
from ticklake_dagster.ticks.validation import REJECT_REASONS, clean_day
from ticklake_dagster_tests.factories import DAY, random_ticks, reference_clean

START = day_start_ms(DAY)


def frame(rows):
    return pd.DataFrame(rows, columns=["ts_ms", "bid", "ask"]).astype(
        {"ts_ms": "int64", "bid": "float64", "ask": "float64"}
    )


def test_each_invalid_reason_is_dropped_and_counted_once():
    rows = [
        (START + 1, 1.0, 1.1),  # kept
        (START + 2, np.nan, 1.1),  # missing
        (START + 3, np.inf, 1.1),  # non_finite
        (START + 4, 1.0, -np.inf),  # non_finite
        (START + 5, 0.0, 1.1),  # non_positive
        (START + 6, -1.0, 1.1),  # non_positive
        (START + 7, 1.2, 1.1),  # crossed
        (START - 1, 1.0, 1.1),  # outside_day (previous day)
        (START + 86_400_000, 1.0, 1.1),  # outside_day (next midnight)
        (START + 8, -1.0, -0.5),  # non_positive wins over crossed: counted once
    ]
    result = clean_day(frame(rows), DAY)
    assert result.rejected == {
        "missing": 1,
        "invalid_price": 0,
        "invalid_timestamp": 0,
        "non_finite": 2,
        "non_positive": 3,
        "too_large": 0,
        "crossed": 1,
        "outside_day": 2,
    }
    assert set(result.rejected) == set(REJECT_REASONS)
    assert result.ticks[["ts_ms", "bid", "ask"]].values.tolist() == [[START + 1, 1.0, 1.1]]
    assert result.rows_read == len(rows) and result.rejected_total == len(rows) - 1


def test_day_edges_are_inclusive_at_midnight_and_exclusive_at_the_next():
    rows = [(START, 1.0, 1.1), (START + 86_399_999, 1.0, 1.1), (START + 86_400_000, 1.0, 1.1)]
    result = clean_day(frame(rows), DAY)
    assert result.ticks["ts_ms"].tolist() == [START, START + 86_399_999]
    assert result.rejected["outside_day"] == 1


def test_equal_quotes_are_kept_only_when_timestamps_differ():
    rows = [(START + 5, 1.0, 1.1), (START + 5, 1.0, 1.1), (START + 6, 1.0, 1.1), (START + 5, 1.0, 1.2)]
    result = clean_day(frame(rows), DAY)
    assert result.duplicates == 1
    # stable: ties in ts keep their arrival order
    assert result.ticks[["ts_ms", "bid", "ask"]].values.tolist() == [
        [START + 5, 1.0, 1.1],
        [START + 5, 1.0, 1.2],
        [START + 6, 1.0, 1.1],
    ]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_clean_day_matches_row_by_row_oracle(seed):
    ticks = random_ticks(seed)
    rng = np.random.default_rng(seed)
    dirty = pd.concat([ticks, ticks.sample(500, random_state=seed)], ignore_index=True)  # retried uploads
    idx = rng.choice(len(dirty), 300, replace=False)
    dirty.loc[idx[:100], "bid"] = dirty.loc[idx[:100], "ask"] + 0.001
    dirty.loc[idx[100:200], "ask"] = np.nan
    dirty.loc[idx[200:], "ts_ms"] += 86_400_000
    result = clean_day(dirty, DAY)
    expected = reference_clean(dirty, DAY)
    pd.testing.assert_frame_equal(result.ticks.reset_index(drop=True), expected)


def test_parquet_part_round_trip_keeps_schema():
    data = ticks_to_parquet(np.array([START, START + 1]), np.array([1.0, 2.0]), np.array([1.5, 2.5]))
    table = pq.read_table(io.BytesIO(data))
    assert table.schema.equals(TICK_SCHEMA, check_metadata=False)
    assert pq.ParquetFile(io.BytesIO(data)).metadata.row_group(0).column(0).compression == "ZSTD"
    assert to_frame([read_part("x.parquet", data)])[["ts_ms", "bid", "ask"]].values.tolist() == [
        [START, 1.0, 1.5],
        [START + 1, 2.0, 2.5],
    ]


def test_writing_a_part_imports_neither_pandas_nor_pyarrow_compute():
    """seed-demo and the ingester write parts with numpy and pyarrow alone: pandas costs ~0.5 s of CPU to import."""
    code = (
        "import sys, numpy as np\n"
        "from ticklake_dagster.lake.parts import ticks_to_parquet\n"
        "ticks_to_parquet(np.array([1, 2]), np.array([1.0, 2.0]), np.array([1.5, 2.5]), np.array([np.nan, 3.0]))\n"
        "print(sorted({'pandas', 'pyarrow.compute'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_parquet_parts_with_other_timestamp_units_are_normalised_to_ms():
    table = pa.table({"ts": pa.array([START * 1000 + 999], pa.timestamp("us", tz="UTC")), "bid": [1.0], "ask": [1.1]})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    assert read_part("x.parquet", buf.getvalue())["ts_ms"].to_pylist() == [START]


def test_legacy_json_part_with_int_and_float_seconds_and_bad_rows():
    records = [
        {"timestamp": START // 1000, "bid": 1.0, "ask": 1.1},
        {"timestamp": START / 1000 + 0.25, "bid": "1.0", "ask": 1.1},
        {"timestamp": START // 1000, "bid": 1.0},  # missing ask
        {"bid": 1.0, "ask": 1.1},  # missing timestamp
        {"timestamp": "soon", "bid": 1.0, "ask": 1.1},
        "not an object",
    ]
    raw = to_frame([read_part("part-1-a.json", json.dumps(records).encode())])
    result = clean_day(raw, DAY)
    assert result.ticks["ts_ms"].tolist() == [START, START + 250]
    assert result.rejected["missing"] == 3 and result.rejected["invalid_timestamp"] == 1


@pytest.mark.parametrize("key,data", [("p.json", b"{not json"), ("p.json", b'{"a": 1}'), ("p.parquet", b"PAR1garbage")])
def test_unreadable_parts_raise_one_line_naming_the_key(key, data):
    with pytest.raises(LakeError) as e:
        read_part(key, data)
    assert key in str(e.value) and "\n" not in str(e.value)


def test_parquet_part_with_null_cells_counts_them_as_missing():
    table = pa.table(
        {
            "ts": pa.array([START, None, START + 2], pa.timestamp("ms", tz="UTC")),
            "bid": pa.array([1.0, 1.0, None]),
            "ask": [1.1, 1.1, 1.1],
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf)
    result = clean_day(to_frame([read_part("p.parquet", buf.getvalue())]), DAY)
    assert result.ticks["ts_ms"].tolist() == [START] and result.rejected["missing"] == 2


def parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def json_part(records) -> pd.DataFrame:
    return to_frame([read_part("part-1-a.json", json.dumps(records).encode())])


def test_boolean_prices_in_a_legacy_json_part_are_rejected_as_invalid_price():
    seconds = START // 1000
    raw = json_part(
        [
            {"timestamp": seconds, "bid": True, "ask": True},
            {"timestamp": seconds + 1, "bid": 1.0, "ask": False},
            {"timestamp": seconds + 2, "bid": {"p": 1}, "ask": 1.1},
            {"timestamp": seconds + 3, "bid": "abc", "ask": 1.1},
            {"timestamp": seconds + 4, "bid": 1.0, "ask": 1.1},
        ]
    )
    result = clean_day(raw, DAY)
    assert result.ticks[["ts_ms", "bid", "ask"]].values.tolist() == [[START + 4000, 1.0, 1.1]]
    assert result.rejected["invalid_price"] == 4


def test_boolean_price_columns_in_a_parquet_part_are_rejected_as_invalid_price():
    table = pa.table(
        {
            "ts": pa.array([START, START + 1], pa.timestamp("ms", tz="UTC")),
            "bid": pa.array([True, None]),
            "ask": pa.array([True, True]),
        }
    )
    result = clean_day(to_frame([read_part("p.parquet", parquet_bytes(table))]), DAY)
    assert len(result.ticks) == 0
    assert result.rejected["invalid_price"] == 1 and result.rejected["missing"] == 1


def test_a_huge_integer_price_rejects_only_its_tick_not_the_part():
    seconds = START // 1000
    data = (
        f'[{{"timestamp": {seconds}, "bid": {10**400}, "ask": {10**400}}}, '
        f'{{"timestamp": {seconds}, "bid": 1.0, "ask": 1.1}}]'
    )
    result = clean_day(to_frame([read_part("part-1-a.json", data.encode())]), DAY)
    assert result.ticks[["ts_ms", "bid", "ask"]].values.tolist() == [[START, 1.0, 1.1]]
    assert result.rejected["non_finite"] == 1


def test_ms_and_iso_timestamps_in_a_legacy_part_are_invalid_timestamp_not_missing():
    raw = json_part(
        [
            {"timestamp": START, "bid": 1.0, "ask": 1.1},  # epoch ms
            {"timestamp": "2025-11-13T10:00:00Z", "bid": 1.0, "ask": 1.1},
            {"timestamp": True, "bid": 1.0, "ask": 1.1},
            {"timestamp": None, "bid": 1.0, "ask": 1.1},
        ]
    )
    result = clean_day(raw, DAY)
    assert len(result.ticks) == 0
    assert result.rejected["invalid_timestamp"] == 3 and result.rejected["missing"] == 1


def test_prices_that_would_overflow_candles_are_rejected_as_too_large():
    rows = [(START + 1, 1.7e308, 1.79e308), (START + 2, 1.0, 1.1), (START + 3, 1.0, 1e13)]
    result = clean_day(frame(rows), DAY)
    assert result.ticks[["ts_ms", "bid", "ask"]].values.tolist() == [[START + 2, 1.0, 1.1]]
    assert result.rejected["too_large"] == 2


def mixed_parts() -> list[tuple[str, bytes]]:
    """Parts of several schemas and formats in one day, as a lake may hold them over the years."""
    ms = pa.timestamp("ms", tz="UTC")
    return [
        ("a.parquet", ticks_to_parquet(np.array([START, START + 1]), np.array([1.0, 1.1]), np.array([1.2, 1.3]))),
        ("b.parquet", ticks_to_parquet(np.array([START + 2]), np.array([1.0]), np.array([0.9]))),
        (
            "c.parquet",
            parquet_bytes(
                pa.table({"ts": pa.array([START + 3, None], ms), "bid": pa.array([1.0, None]), "ask": [1.1, 1.1]})
            ),
        ),
        (
            "d.parquet",
            parquet_bytes(
                pa.table(
                    {
                        "ts": pa.array([(START + 4) * 1000], pa.timestamp("us", tz="UTC")),
                        "bid": pa.array([2], pa.int64()),
                        "ask": pa.array([3], pa.int64()),
                    }
                )
            ),
        ),
        ("e.json", json.dumps([{"timestamp": (START + 5000) / 1000, "bid": 1.0, "ask": True}]).encode()),
        (
            "f.parquet",
            parquet_bytes(pa.table({"ts": pa.array([START + 6], ms), "bid": pa.array([True]), "ask": pa.array([1.1])})),
        ),
        ("g.parquet", ticks_to_parquet(np.array([START + 7]), np.array([np.nan]), np.array([1.1]))),
        ("h.parquet", ticks_to_parquet(np.array([], dtype="int64"), np.array([]), np.array([]))),
    ]


def test_reading_many_parts_at_once_equals_reading_each_part():
    parts = mixed_parts()
    together = to_frame([read_parts_data(parts)])
    each = to_frame([read_part(k, d) for k, d in parts])
    pd.testing.assert_frame_equal(together, each)  # NaN where a price is missing, reason markers in ts_ms
    assert len(together) == 9
    assert clean_day(together, DAY).rejected == clean_day(each, DAY).rejected


def test_an_unreadable_part_among_many_is_named():
    parts = mixed_parts()
    bad = parquet_bytes(pa.table({"ts": pa.array([1, 2]), "bid": [1.0, 1.0], "ask": [1.1, 1.1]}))
    parts.insert(3, ("bad.parquet", bad))
    with pytest.raises(LakeError, match="Unreadable tick part bad.parquet: ValueError: column ts has type int64"):
        read_parts_data(parts)


@pytest.mark.parametrize("seed", range(5))
def test_time_ordered_ticks_with_repeats_clean_like_the_row_by_row_oracle(seed):
    """The common case (parts in time order) skips the sort; duplicates within one ts, near or apart, still go."""
    ticks = random_ticks(seed).sort_values("ts_ms", kind="stable", ignore_index=True)
    same_ts = ticks[ticks["ts_ms"].duplicated(keep=False)]
    repeats = pd.concat([same_ts.iloc[::3], ticks.iloc[::50]])
    with_repeats = pd.concat([ticks, repeats]).sort_values("ts_ms", kind="stable", ignore_index=True)
    with_repeats.loc[7, "bid"] = np.nan
    result = clean_day(with_repeats, DAY)
    pd.testing.assert_frame_equal(result.ticks, reference_clean(with_repeats, DAY))
    assert result.duplicates == len(with_repeats) - 1 - len(result.ticks) and result.rejected["missing"] == 1


def test_volumes_survive_compaction_and_a_feed_without_them_reads_null(file_lake_resource):
    """A Dukascopy part's bid/ask volumes reach the compacted day tick by tick; a plain part's are null."""
    from ticklake_dagster.lake.keys import daily_key, raw_part_key
    from ticklake_dagster.sources.dukascopy.day_parts import part_parquet
    from ticklake_dagster.sources.dukascopy.decode import HourTicks
    from ticklake_dagster.ticks.compaction import compact_day, load_compacted

    lake = file_lake_resource.get_lake()
    day = DAY
    rng = np.random.default_rng(3)
    n = 500
    ts = np.sort(rng.integers(0, 86_400_000, n)) + START
    bid = np.round(1.1 + rng.normal(0, 1e-4, n), 5)
    ask = bid + 0.0001
    ask_volume = rng.integers(1, 400, n).astype("float32") / 100
    bid_volume = rng.integers(1, 400, n).astype("float32") / 100
    hour = HourTicks(ts.astype("int64"), bid, ask, ask_volume, bid_volume)
    lake.put(raw_part_key("EURUSD", day, int(ts[0]), "dukascopy"), part_parquet(hour))
    plain_ts = np.array([START + 86_399_000], dtype="int64")  # a live-feed part: no volume columns
    lake.put(raw_part_key("EURUSD", day, int(plain_ts[0]), "live"), ticks_to_parquet(plain_ts, [1.2], [1.3]))

    result = compact_day(lake, "EURUSD", day)
    assert len(result.ticks) == n + 1
    stored = pq.read_table(io.BytesIO(lake.get(daily_key("EURUSD", day))))
    assert stored.column("ask_volume").to_pylist()[:n] == ask_volume.astype("float64").tolist()
    assert stored.column("bid_volume").to_pylist()[:n] == bid_volume.astype("float64").tolist()
    assert stored.column("ask_volume").to_pylist()[n:] == [None] and stored.column("bid_volume").to_pylist()[n:] == [
        None
    ]
    loaded = load_compacted(lake, "EURUSD", day)
    assert loaded["bid_volume"].iloc[:n].tolist() == bid_volume.astype("float64").tolist()
    assert np.isnan(loaded["bid_volume"].iloc[n])
