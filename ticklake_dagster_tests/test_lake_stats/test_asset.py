"""The lake_stats asset through Dagster: plotted numeric metadata, the Markdown table, the WARN coverage check."""

import datetime as dt

import dagster as dg
import numpy as np

from ticklake_dagster.core.days import day_start_ms
from ticklake_dagster.definitions import defs
from ticklake_dagster.defs.assets.lake_stats import LAKE_COVERAGE_CHECK, lake_stats
from ticklake_dagster.defs.resources import TicklakeSettings
from ticklake_dagster.lake.keys import raw_part_key
from ticklake_dagster.lake.parts import ticks_to_parquet


def put(lake, symbol, day, n):
    ts = day_start_ms(day) + np.arange(n, dtype="int64") * 1000
    data = ticks_to_parquet(ts, np.full(n, 1.1), np.full(n, 1.1001))
    lake.put(raw_part_key(symbol, day, int(ts[0])), data)
    return len(data)


def test_lake_stats_asset_metadata_and_warn(file_lake_resource, database):
    lake = file_lake_resource.get_lake()
    today = dt.datetime.now(dt.timezone.utc).date()
    days = [today - dt.timedelta(days=i) for i in range(1, 8)]
    size = 0
    for d in days:  # a crypto symbol with every day but one
        if d != days[3]:
            size += put(lake, "BTC-USD", d, 100)
    result = dg.materialize(
        [lake_stats], resources={"lake": file_lake_resource, "database": database, "settings": TicklakeSettings()}
    )
    assert result.success
    meta = result.asset_materializations_for_node("lake_stats")[0].metadata
    assert isinstance(meta["total_bytes"], dg.IntMetadataValue) and meta["total_bytes"].value == size
    assert meta["ticks"].value == 600 and meta["objects"].value == 6
    assert meta["bytes_BTC-USD"].value == size
    assert isinstance(meta["monthly_cost_r2_usd"], dg.FloatMetadataValue)
    assert isinstance(meta["bytes_per_tick"], dg.FloatMetadataValue)
    assert meta["bytes_per_tick"].value == size / 600
    assert "| BTC-USD | 6 | 1 |" in meta["symbols"].value
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == LAKE_COVERAGE_CHECK
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert str(days[3]) in check.description


def test_lake_stats_passes_when_covered(file_lake_resource, database):
    lake = file_lake_resource.get_lake()
    today = dt.datetime.now(dt.timezone.utc).date()
    for i in range(1, 9):
        put(lake, "ETH-USD", today - dt.timedelta(days=i), 10)
    result = dg.materialize(
        [lake_stats], resources={"lake": file_lake_resource, "database": database, "settings": TicklakeSettings()}
    )
    (check,) = result.get_asset_check_evaluations()
    assert check.passed


def test_lake_stats_is_scheduled_daily():
    repo = defs.get_repository_def()
    schedule = repo.get_schedule_def("lake_stats_schedule")
    assert schedule.cron_schedule == "0 4 * * *"
    assert dg.AssetKey("lake_stats") in repo.asset_graph.get_all_asset_keys()
