"""The daily path: days without ticks are observed as no data, not materialized; two asset keys per symbol-day;
the higher timeframes are unpartitioned and observed once per run."""

import datetime as dt

import dagster as dg

from ticklake_dagster.defs.assets import candles_5m, r2_ticks
from ticklake_dagster.defs.checks import CANDLES_GAPS_CHECK
from ticklake_dagster.defs.partitions import partition_key
from ticklake_dagster.defs.resources import TicklakeSettings
from ticklake_dagster_tests.factories import fetch_candles, instance_with_symbols, random_ticks, write_parquet_parts

FRIDAY, MONDAY = dt.date(2025, 11, 14), dt.date(2025, 11, 17)
WEEKEND = [dt.date(2025, 11, 15), dt.date(2025, 11, 16)]


def run_range(lake_resource, database, instance, first: dt.date, last: dt.date):
    return dg.materialize(
        [r2_ticks, candles_5m],
        instance=instance,
        resources={"lake": lake_resource, "database": database, "settings": TicklakeSettings()},
        tags={
            "dagster/asset_partition_range_start": str(partition_key("EURUSD", first)),
            "dagster/asset_partition_range_end": str(partition_key("EURUSD", last)),
        },
    )


def observed_no_data(instance, key: str) -> set[str]:
    records = instance.fetch_observations(dg.AssetKey(key), limit=100).records
    return {r.partition_key for r in records if r.asset_observation.metadata.get("no_data")}


def test_a_ranged_run_materializes_only_days_with_ticks(file_lake_resource, database):
    lake = file_lake_resource.get_lake()
    for i, day in enumerate((FRIDAY, MONDAY)):
        write_parquet_parts(lake, "EURUSD", random_ticks(i, day=day, n=20_000), parts=2, day=day)
    instance = instance_with_symbols("EURUSD")
    result = run_range(file_lake_resource, database, instance, FRIDAY, MONDAY)
    assert result.success
    with_data = {str(partition_key("EURUSD", d)) for d in (FRIDAY, MONDAY)}
    weekend = {str(partition_key("EURUSD", d)) for d in WEEKEND}
    assert instance.get_materialized_partitions(dg.AssetKey("candles_5m")) == with_data
    assert observed_no_data(instance, "candles_5m") == weekend
    r2 = result.asset_materializations_for_node("r2_ticks")[0]
    assert r2.metadata["empty_days"].value == 2
    assert set(r2.metadata["no_data_partitions"].value.split(", ")) == weekend
    # The checks judge the days with data: an empty weekend raises no gaps WARN.
    gaps = next(e for e in result.get_asset_check_evaluations() if e.check_name == CANDLES_GAPS_CHECK)
    assert gaps.passed and gaps.metadata["partitions_checked"].value == 2


def test_a_run_of_empty_days_records_no_materialization(file_lake_resource, database):
    instance = instance_with_symbols("EURUSD")
    result = run_range(file_lake_resource, database, instance, *WEEKEND)
    assert result.success
    weekend = {str(partition_key("EURUSD", d)) for d in WEEKEND}
    for key in ("r2_ticks", "candles_5m"):
        assert instance.get_materialized_partitions(dg.AssetKey(key)) == set()
        assert observed_no_data(instance, key) == weekend
    assert not result.get_asset_check_evaluations()


def test_higher_timeframes_are_written_and_observed_once_per_run(file_lake_resource, database):
    lake = file_lake_resource.get_lake()
    for i, day in enumerate((FRIDAY, MONDAY)):
        write_parquet_parts(lake, "EURUSD", random_ticks(i, day=day, n=5_000), parts=2, day=day)
    instance = instance_with_symbols("EURUSD")
    assert run_range(file_lake_resource, database, instance, FRIDAY, MONDAY).success
    ticks = int(fetch_candles(database, "candles_5m", "EURUSD")["trades"].sum())
    for relation in ("candles_15m", "candles_1h", "candles_4h", "candles_12h", "candles_1d"):
        assert int(fetch_candles(database, relation, "EURUSD")["trades"].sum()) == ticks
        records = instance.fetch_observations(dg.AssetKey(relation), limit=10).records
        assert len(records) == 1 and records[0].partition_key is None
        assert records[0].asset_observation.metadata["candle_count"].value > 0
