"""r2_ticks -> candles_5m through Dagster's materialize(), on a folder lake and on the moto S3 server."""

import datetime as dt
import io

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from ticklake_dagster.core.days import day_start_ms
from ticklake_dagster.core.timeframes import ROLLUPS, TIMEFRAMES
from ticklake_dagster.defs.assets import R2_TICKS, ticks_and_candles
from ticklake_dagster.defs.partitions import partition_key
from ticklake_dagster.defs.resources import TicklakeSettings
from ticklake_dagster.lake.keys import daily_key
from ticklake_dagster.lake.parts import DAILY_SCHEMA, read_daily
from ticklake_dagster_tests.factories import (
    DAY,
    fetch_candles,
    instance_with_symbols,
    materializations,
    materialize_day,
    random_ticks,
    reference_candles,
    reference_clean,
    write_json_part,
    write_parquet_parts,
)

START = day_start_ms(DAY)


def metadata(result, asset: str) -> dict:
    mats = materializations(result, asset)
    return {k: v.value for k, v in mats[0].metadata.items()}


def assert_candles_equal_reference(db_candles: pd.DataFrame, ticks: pd.DataFrame, rule: str = "5min"):
    ref = reference_candles(ticks, rule)
    assert db_candles["time"].tolist() == ref["time"].tolist()
    for col in ("open", "high", "low", "close", "trades"):
        assert db_candles[col].tolist() == ref[col].tolist(), col
    np.testing.assert_allclose(db_candles["spread_avg"], ref["spread_avg"], rtol=1e-12)


def test_candles_equal_an_independent_reference(lake_resource, database):
    ticks = random_ticks(7, n=30_000)
    write_parquet_parts(lake_resource.get_lake(), "EURUSD", ticks, parts=6)
    result = materialize_day(lake_resource, database, "EURUSD")
    expected_ticks = reference_clean(ticks, DAY)
    assert_candles_equal_reference(fetch_candles(database, symbol="EURUSD"), expected_ticks)
    meta = metadata(result, "r2_ticks")
    assert meta["parts_read"] == 6 and meta["ticks_kept"] == len(expected_ticks)
    assert meta["first_tick"] == pd.Timestamp(expected_ticks["ts_ms"].iloc[0], unit="ms", tz="UTC").isoformat()
    candle_meta = metadata(result, "candles_5m")
    assert candle_meta["candle_count"] == 288 and candle_meta["rows_upserted"] == 288
    assert (
        candle_meta["first_candle"] == f"{DAY}T00:00:00+00:00" and candle_meta["last_candle"] == f"{DAY}T23:55:00+00:00"
    )


def test_compacted_day_is_sorted_deduplicated_and_readable_with_hive_partitioning(lake_resource, database):
    ticks = random_ticks(8)
    lake = lake_resource.get_lake()
    write_parquet_parts(lake, "BTC-USD", ticks, parts=3)
    materialize_day(lake_resource, database, "BTC-USD")
    table = pq.read_table(io.BytesIO(lake.get(daily_key("BTC-USD", DAY))))
    assert table.schema.equals(DAILY_SCHEMA, check_metadata=False)  # the volume columns, null for this feed
    assert table.column("bid_volume").null_count == table.column("ask_volume").null_count == table.num_rows
    expected = reference_clean(ticks, DAY)
    assert table.column("ts").cast("int64").to_pylist() == expected["ts_ms"].tolist()
    assert table.column("bid").to_pylist() == expected["bid"].tolist()
    assert table.column("ask").to_pylist() == expected["ask"].tolist()


def test_rerun_is_idempotent_and_reports_updates(lake_resource, database):
    write_parquet_parts(lake_resource.get_lake(), "EURUSD", random_ticks(9), parts=2)
    materialize_day(lake_resource, database, "EURUSD")
    first, first_hours = fetch_candles(database), fetch_candles(database, "candles_1h")
    second_result = materialize_day(lake_resource, database, "EURUSD")
    pd.testing.assert_frame_equal(fetch_candles(database), first)
    pd.testing.assert_frame_equal(fetch_candles(database, "candles_1h"), first_hours)
    meta = metadata(second_result, "candles_5m")
    assert meta["rows_upserted"] == len(first) and meta["rows_removed"] == 0


def test_rerun_removes_candles_that_no_longer_exist(lake_resource, database):
    lake = lake_resource.get_lake()
    ticks = random_ticks(10)
    keys = write_parquet_parts(lake, "EURUSD", ticks.sort_values("ts_ms", kind="stable"), parts=2)
    materialize_day(lake_resource, database, "EURUSD")
    lake.delete(keys[1])  # the second half of the day's ticks vanish
    result = materialize_day(lake_resource, database, "EURUSD")
    remaining = ticks.sort_values("ts_ms", kind="stable").iloc[: len(ticks) // 2]
    assert_candles_equal_reference(fetch_candles(database), reference_clean(remaining, DAY))
    assert metadata(result, "candles_5m")["rows_removed"] > 0


def test_parquet_and_legacy_json_parts_in_one_day(lake_resource, database):
    lake = lake_resource.get_lake()
    ticks = random_ticks(11, n=2000)
    write_parquet_parts(lake, "EURUSD", ticks.iloc[:1000], parts=2)
    legacy = ticks.iloc[1000:].copy()
    legacy["ts_ms"] = (legacy["ts_ms"] // 1000) * 1000  # the legacy format carries whole or fractional seconds
    records = [
        {"timestamp": (t // 1000) if i % 2 else t / 1000.0, "bid": b, "ask": a}
        for i, (t, b, a) in enumerate(legacy[["ts_ms", "bid", "ask"]].itertuples(index=False))
    ]
    write_json_part(lake, "EURUSD", records)
    result = materialize_day(lake_resource, database, "EURUSD")
    expected = reference_clean(pd.concat([ticks.iloc[:1000], legacy], ignore_index=True), DAY)
    assert metadata(result, "r2_ticks")["parts_read"] == 3
    assert_candles_equal_reference(fetch_candles(database), expected)


def test_a_batch_uploaded_twice_counts_once(lake_resource, database):
    lake = lake_resource.get_lake()
    ticks = random_ticks(12)
    write_parquet_parts(lake, "EURUSD", ticks, parts=3)
    materialize_day(lake_resource, database, "EURUSD")
    once = fetch_candles(database)
    # a retried batch: the same ticks again under new part names
    for key in list(o.key for o in lake.list("ticks/EURUSD/")):
        lake.put(key.replace(".parquet", "-retry.parquet"), lake.get(key))
    result = materialize_day(lake_resource, database, "EURUSD")
    pd.testing.assert_frame_equal(fetch_candles(database), once)
    assert metadata(result, "r2_ticks")["duplicates_removed"] >= len(reference_clean(ticks, DAY))


def test_invalid_rows_are_dropped_and_counted_by_reason(lake_resource, database):
    lake = lake_resource.get_lake()
    records = [
        {"timestamp": START / 1000, "bid": 1.0, "ask": 1.1},
        {"timestamp": START / 1000 + 1, "bid": float("nan"), "ask": 1.1},
        {"timestamp": START / 1000 + 2, "bid": 0, "ask": 1.1},
        {"timestamp": START / 1000 + 3, "bid": 1.2, "ask": 1.1},
        {"timestamp": START / 1000 - 1, "bid": 1.0, "ask": 1.1},
        {"timestamp": START / 1000 + 4, "bid": 1.0},
    ]
    write_json_part(lake, "EURUSD", records, name="bad")  # json.dumps writes NaN as the legacy feed did
    result = materialize_day(lake_resource, database, "EURUSD")
    meta = metadata(result, "r2_ticks")
    assert meta["ticks_kept"] == 1
    assert (
        meta["rejected_missing"],
        meta["rejected_non_positive"],
        meta["rejected_crossed"],
        meta["rejected_outside_day"],
    ) == (2, 1, 1, 1)
    assert fetch_candles(database)["trades"].tolist() == [1]


def test_ticks_on_bucket_and_day_edges(lake_resource, database):
    lake = lake_resource.get_lake()
    ts = np.array([START, START + 299_999, START + 300_000, START + 86_399_999, START + 86_400_000, START - 1])
    ticks = pd.DataFrame({"ts_ms": ts, "bid": np.arange(1.0, 7.0), "ask": np.arange(1.0, 7.0) + 0.5})
    write_parquet_parts(lake, "EURUSD", ticks, parts=1)
    materialize_day(lake_resource, database, "EURUSD")
    got = fetch_candles(database)
    assert got["time"].tolist() == [pd.Timestamp(START + o, unit="ms", tz="UTC") for o in (0, 300_000, 86_100_000)]
    assert got["trades"].tolist() == [2, 1, 1]


def test_an_empty_or_missing_open_day_is_a_hole_not_zero_candles(lake_resource, database):
    """Thursday with nothing in the lake (or only an empty part) fails, naming the day; nothing is materialized."""
    lake = lake_resource.get_lake()
    write_parquet_parts(lake, "EURUSD", random_ticks(13, n=100), parts=1)
    assert materialize_day(lake_resource, database, "EURUSD").success and not fetch_candles(database).empty
    for part in lake.list("ticks/EURUSD/"):
        lake.delete(part.key)
    for attempt in ("nothing at all", "one part without rows"):
        if attempt == "one part without rows":
            write_parquet_parts(lake, "EURUSD", random_ticks(13).iloc[:0], parts=1)
        result = materialize_day(lake_resource, database, "EURUSD", raise_on_error=False)
        assert not result.success and not result.get_asset_materialization_events(), attempt
        failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error.message
        assert f"no ticks for EURUSD {DAY}, a day its market was open" in failure
        assert fetch_candles(database).empty  # the earlier run's candles went with the day's ticks
    assert read_daily(lake.get(daily_key("EURUSD", DAY))).empty  # the compacted day mirrors its one empty part


def test_file_and_s3_lakes_give_identical_results(
    file_lake_resource, s3_lake_resource, database, pg_server_url, tmp_path
):
    from ticklake_dagster.defs.resources import DatabaseResource
    from ticklake_dagster_tests.servers import fresh_database

    ticks = random_ticks(14, n=10_000)
    for resource in (file_lake_resource, s3_lake_resource):
        write_parquet_parts(resource.get_lake(), "EURUSD", ticks, parts=5)
    with fresh_database(pg_server_url) as other_url:
        other = DatabaseResource(url=other_url, home=str(tmp_path))
        materialize_day(file_lake_resource, database, "EURUSD")
        materialize_day(s3_lake_resource, other, "EURUSD")
        for relation in ("candles_5m", "candles_1h", "candles_12h"):
            pd.testing.assert_frame_equal(fetch_candles(database, relation), fetch_candles(other, relation))
    key = daily_key("EURUSD", DAY)
    assert file_lake_resource.get_lake().get(key) == s3_lake_resource.get_lake().get(key)


def test_a_backfill_range_runs_many_days_in_one_run(file_lake_resource, database):
    lake = file_lake_resource.get_lake()
    days = [DAY + dt.timedelta(days=i) for i in range(4)]
    all_ticks = {}
    for i, day in enumerate(days):
        all_ticks[day] = random_ticks(20 + i, day=day, n=3000)
        write_parquet_parts(lake, "EURUSD", all_ticks[day], parts=2, day=day)
    instance = instance_with_symbols("EURUSD")
    result = dg.materialize(
        [ticks_and_candles],
        resources={"lake": file_lake_resource, "database": database, "settings": TicklakeSettings()},
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": partition_key("EURUSD", days[0]),
            "dagster/asset_partition_range_end": partition_key("EURUSD", days[-1]),
        },
    )
    assert result.success
    materialized = instance.get_materialized_partitions(R2_TICKS)
    assert materialized == {partition_key("EURUSD", d) for d in days}
    got = fetch_candles(database)
    expected = pd.concat([reference_candles(reference_clean(all_ticks[d], d)) for d in days], ignore_index=True)
    assert got["time"].tolist() == expected["time"].tolist()
    assert got["close"].tolist() == expected["close"].tolist()
    # one materialization per day and asset, each with that day's own counts
    kept = {m.partition: m.metadata["ticks_kept"].value for m in materializations(result, "r2_ticks")}
    assert kept == {partition_key("EURUSD", d): len(reference_clean(all_ticks[d], d)) for d in days}
    assert {m.partition for m in materializations(result, "candles_5m")} == set(kept)
    # Each day has its line in the run's log, gathered into one log event per half of the step (not one per day).
    messages = [e.user_message for e in instance.all_logs(result.run_id) if e.dagster_event is None]
    for step, needle in (("r2_ticks", " parts, "), ("candles_5m", " candles, ")):
        step_logs = [m for m in messages if needle in m]
        assert len(step_logs) == 1, (step, step_logs)
        assert [line.split(":")[0] for line in step_logs[0].splitlines()] == [f"EURUSD {d}" for d in days]


def test_rollups_equal_resampled_ticks_on_plain_postgres(file_lake_resource, database):
    ticks = random_ticks(15, n=40_000)
    write_parquet_parts(file_lake_resource.get_lake(), "EURUSD", ticks, parts=4)
    materialize_day(file_lake_resource, database, "EURUSD")
    clean = reference_clean(ticks, DAY)
    for tf in ROLLUPS:
        assert_candles_equal_reference(fetch_candles(database, tf.relation), clean, f"{tf.seconds}s")


def test_materialization_on_timescaledb_refreshes_every_aggregate(file_lake_resource, timescale_database, database):
    ticks = random_ticks(16, n=20_000)
    write_parquet_parts(file_lake_resource.get_lake(), "EURUSD", ticks, parts=3)
    result = materialize_day(file_lake_resource, timescale_database, "EURUSD")
    assert metadata(result, "candles_5m")["database_flavor"] == "timescaledb"
    materialize_day(file_lake_resource, database, "EURUSD")  # plain PostgreSQL, same parts
    for relation in (tf.relation for tf in TIMEFRAMES):
        ts_rows, pg_rows = fetch_candles(timescale_database, relation), fetch_candles(database, relation)
        assert len(ts_rows) > 0, relation
        pd.testing.assert_frame_equal(
            ts_rows.drop(columns="spread_avg"), pg_rows.drop(columns="spread_avg"), check_dtype=False
        )
        np.testing.assert_allclose(ts_rows["spread_avg"], pg_rows["spread_avg"], rtol=1e-9)
