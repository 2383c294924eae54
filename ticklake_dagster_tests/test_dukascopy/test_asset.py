"""dukascopy_ticks through Dagster: partitions imported by real runs, then r2_ticks/candles_5m on the imported days."""

import datetime as dt

import dagster as dg
import pandas as pd

from ticklake_dagster.defs.assets import ticks_and_candles
from ticklake_dagster.defs.assets.dukascopy import dukascopy_ticks, month_days, request_share
from ticklake_dagster.defs.partitions import MONTH_DIMENSION, SYMBOL_DIMENSION, partition_key
from ticklake_dagster.defs.resources import DukascopyResource, TicklakeSettings
from ticklake_dagster.sources.dukascopy.importer import dukascopy_part_key
from ticklake_dagster_tests.factories import fetch_candles, instance_with_symbols, reference_candles, reference_clean
from ticklake_dagster_tests.test_dukascopy.conftest import assert_same_ticks, expected_day, stored_day

FEB = dt.date(2019, 2, 1)


def month_key(symbol: str, month: dt.date) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({SYMBOL_DIMENSION: symbol, MONTH_DIMENSION: month.isoformat()})


def materialize_history(lake_resource, url: str, instance, **kwargs):
    feed = "bi5" if url.endswith("/datafeed") else "json"
    return dg.materialize(
        [dukascopy_ticks],
        instance=instance,
        resources={"lake": lake_resource, "dukascopy": DukascopyResource(url=url, feed=feed, concurrency=16)},
        **kwargs,
    )


def test_a_month_partition_imports_every_day_and_a_rerun_skips_them(lake_resource, mirror):
    _, _, json_url = mirror
    instance = instance_with_symbols("XAUUSD")
    result = materialize_history(lake_resource, json_url, instance, partition_key=month_key("XAUUSD", FEB))
    assert result.success
    meta = result.asset_materializations_for_node("dukascopy_ticks")[0].metadata
    lake = lake_resource.get_lake()
    days = [FEB + dt.timedelta(days=i) for i in range(28)]
    expected = {d: expected_day("XAUUSD", d) for d in days}
    for day in days:
        assert_same_ticks(stored_day(lake, "XAUUSD", day), expected[day])
    assert meta["days_imported"].value == 28 and meta["days_skipped"].value == 0
    assert meta["ticks"].value == sum(len(e) for e in expected.values())
    assert meta["empty_hours"].value >= 4 * 24 and meta["bytes_written"].value > 0
    again = materialize_history(lake_resource, json_url, instance, partition_key=month_key("XAUUSD", FEB))
    meta = again.asset_materializations_for_node("dukascopy_ticks")[0].metadata
    assert meta["days_imported"].value == 0 and meta["days_skipped"].value == 28


def test_a_ranged_backfill_run_imports_several_months(file_lake_resource, mirror):
    _, bi5, _ = mirror
    instance = instance_with_symbols("EURUSD")
    jan = dt.date(2019, 1, 1)
    result = materialize_history(
        file_lake_resource,
        bi5,
        instance,
        tags={
            "dagster/asset_partition_range_start": str(month_key("EURUSD", jan)),
            "dagster/asset_partition_range_end": str(month_key("EURUSD", FEB)),
        },
    )
    assert result.success
    assert instance.get_materialized_partitions(dukascopy_ticks.key) == {
        str(month_key("EURUSD", jan)),
        str(month_key("EURUSD", FEB)),
    }
    meta = result.asset_materializations_for_node("dukascopy_ticks")[0].metadata
    assert meta["days_imported"].value == 31 + 28 and meta["partitions"].value == 2
    assert "| 2019-01-01|EURUSD | 31 | 0 |" in meta["per_partition"].value
    assert "| 2019-02-01|EURUSD | 28 | 0 |" in meta["per_partition"].value
    lake = file_lake_resource.get_lake()
    assert_same_ticks(stored_day(lake, "EURUSD", dt.date(2019, 1, 31)), expected_day("EURUSD", dt.date(2019, 1, 31)))
    assert_same_ticks(stored_day(lake, "EURUSD", dt.date(2019, 2, 1)), expected_day("EURUSD", dt.date(2019, 2, 1)))


def test_a_symbol_without_point_factor_fails_the_partition_saying_why(file_lake_resource, mirror):
    m, bi5, _ = mirror
    result = materialize_history(
        file_lake_resource,
        bi5,
        instance_with_symbols("FOOBAR"),
        partition_key=month_key("FOOBAR", FEB),
        raise_on_error=False,
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert "Unknown Dukascopy instrument FOOBAR" in failure.step_failure_data.error.message
    assert not m.requests


def test_a_failing_hour_fails_the_partition_naming_its_url_after_the_other_days(file_lake_resource, mirror):
    m, bi5, _ = mirror
    m.fault = lambda path, nth: (404, {}, b"gone") if path.endswith("/BTCUSD/2019/01/10/13h_ticks.bi5") else None
    result = materialize_history(
        file_lake_resource,
        bi5,
        instance_with_symbols("BTCUSD"),
        partition_key=month_key("BTCUSD", FEB),
        raise_on_error=False,
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert f"{bi5}/BTCUSD/2019/01/10/13h_ticks.bi5: HTTP 404" in failure.step_failure_data.user_failure_data.description
    lake = file_lake_resource.get_lake()
    assert not lake.exists(dukascopy_part_key("BTCUSD", dt.date(2019, 2, 10)))
    assert lake.exists(dukascopy_part_key("BTCUSD", dt.date(2019, 2, 11)))


def test_month_days_stop_before_today_and_requests_are_shared_by_the_pool():
    assert dukascopy_ticks.op.pool == "dukascopy"
    assert dukascopy_ticks.group_names_by_key[dukascopy_ticks.key] == "history"
    assert month_days(dt.date(2026, 11, 1), dt.date(2026, 11, 26))[-1] == dt.date(2026, 11, 25)
    assert len(month_days(dt.date(2024, 2, 1), dt.date(2026, 1, 1))) == 29
    with dg.instance_for_test(overrides={"concurrency": {"pools": {"default_limit": 2}}}) as instance:
        assert request_share(instance, 8) == 4
        instance.event_log_storage.set_concurrency_slots("dukascopy", 4)
        assert request_share(instance, 8) == 2


def test_candles_of_imported_days_equal_candles_of_the_encoded_ticks(file_lake_resource, mirror, timescale_database):
    _, bi5, _ = mirror
    lake = file_lake_resource.get_lake()
    day = dt.date(2025, 11, 13)  # inside the daily partitions, which start in 2024
    from ticklake_dagster_tests.test_dukascopy.test_importer import run_import

    assert run_import(lake, bi5, ["USDJPY"], days=[day]).count("imported") == 1
    result = dg.materialize(
        [ticks_and_candles],
        partition_key=partition_key("USDJPY", day),
        instance=instance_with_symbols("USDJPY"),
        resources={"lake": file_lake_resource, "database": timescale_database, "settings": TicklakeSettings()},
    )
    assert result.success
    ticks = expected_day("USDJPY", day)[["ts_ms", "bid", "ask"]]
    expected = reference_candles(reference_clean(ticks, day))
    got = fetch_candles(timescale_database, symbol="USDJPY")
    assert len(got) == len(expected) > 200
    assert got["time"].tolist() == expected["time"].tolist()
    for column in ("open", "high", "low", "close", "trades"):
        pd.testing.assert_series_equal(
            got[column].astype("float64"), expected[column].astype("float64"), check_names=False
        )
    pd.testing.assert_series_equal(got["spread_avg"], expected["spread_avg"], check_names=False, rtol=1e-9)
