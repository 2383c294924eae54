"""The lake sensor over a folder lake and the moto S3 server, evaluated with Dagster's build_sensor_context."""

import datetime as dt
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor

import dagster as dg
import pytest
from dagster._core.storage.dagster_run import DagsterRunStatus
from dagster._core.utils import make_new_run_id

from ticklake_dagster.defs.assets import ticks_and_candles
from ticklake_dagster.defs.partitions import partition_key, request_partitions, symbol_partitions_def
from ticklake_dagster.defs.resources import LakeResource, TicklakeSettings
from ticklake_dagster.defs.run_planning import TICKS_TO_CANDLES
from ticklake_dagster.defs.sensors import build_lake_sensor
from ticklake_dagster.lake.keys import raw_part_key
from ticklake_dagster.lake.scan import LakeCursor
from ticklake_dagster.lake.storage import FileLake
from ticklake_dagster_tests.factories import (
    fetch_candles,
    random_ticks,
    wait_until_parts_are_older_than,
    write_parquet_parts,
)

TODAY = dt.datetime.now(dt.timezone.utc).date()
LAST_MONTH = TODAY - dt.timedelta(days=35)
# skew 1 s covers S3's whole-second LastModified; refresh and sweep pacing 0 unless a test is about them.
FAST = TicklakeSettings(
    sensor_refresh_seconds=0, sensor_skew_seconds=1.0, sensor_sweep_keys=5000, sensor_sweep_minutes=0, watch_feed=False
)


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def put_parts(lake, symbol, day, n=1, start=0, data=b"not read by the sensor"):
    keys = [
        raw_part_key(symbol, day, (day - dt.date(1970, 1, 1)).days * 86_400_000 + start + i, suffix=f"s{start + i}")
        for i in range(n)
    ]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: lake.put(k, data), keys))
    return keys


class Harness:
    """Evaluates the sensor like the daemon would: the cursor carried over, new symbols registered."""

    def __init__(self, lake_resource, instance, settings=FAST, clock=time.time):
        self.sensor = build_lake_sensor(clock=clock)
        self.resources = {"lake": lake_resource, "settings": settings}
        self.instance, self.cursor = instance, None

    def tick(self) -> dg.SensorResult:
        with dg.build_sensor_context(instance=self.instance, cursor=self.cursor, resources=self.resources) as context:
            result = self.sensor(context)
        for request in result.dynamic_partitions_requests or []:
            self.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        self.cursor = result.cursor
        return result


class ListRequests:
    """Counts the lake's list requests: ListObjectsV2 calls sent to the S3 server, or pages of 1,000 on a folder
    lake.
    """

    def __init__(self, monkeypatch):
        self.count = 0
        get_lake = LakeResource.get_lake
        monkeypatch.setattr(LakeResource, "get_lake", lambda resource: self.watch(get_lake(resource)))

    def watch(self, lake):
        if not isinstance(lake, FileLake):
            lake.client.meta.events.register("before-call.s3.ListObjectsV2", self._sent)
            return lake
        list_keys, list_dirs = lake.list, lake.list_dirs

        def counted_list(prefix, start_after=None):
            objects = list(list_keys(prefix, start_after))
            self.count += max(1, math.ceil(len(objects) / 1000))
            return iter(objects)

        def counted_dirs(prefix):
            self.count += 1
            return list_dirs(prefix)

        lake.list, lake.list_dirs = counted_list, counted_dirs
        return lake

    def _sent(self, **_):
        self.count += 1


def requested(result) -> set:
    return {p for r in result.run_requests for p in request_partitions(r)}


def settle(lake):
    """Until the parts just written are older than S3's 1 s mtime resolution: the next tick must tell them from
    new ones.
    """
    wait_until_parts_are_older_than(lake, FAST.sensor_skew_seconds)


def test_first_tick_registers_symbols_and_requests_every_day_with_parts(lake_resource, instance):
    lake = lake_resource.get_lake()
    for day in (TODAY, TODAY - dt.timedelta(days=3), LAST_MONTH):
        put_parts(lake, "EURUSD", day, n=2)
    put_parts(lake, "BTC-USD", TODAY)
    settle(lake)
    result = Harness(lake_resource, instance).tick()
    [add] = result.dynamic_partitions_requests
    assert add.partitions_def_name == symbol_partitions_def.name and sorted(add.partition_keys) == ["BTC-USD", "EURUSD"]
    assert requested(result) == {
        ("EURUSD", TODAY),
        ("EURUSD", TODAY - dt.timedelta(days=3)),
        ("EURUSD", LAST_MONTH),
        ("BTC-USD", TODAY),
    }
    assert all(set(r.asset_selection) == set(TICKS_TO_CANDLES) for r in result.run_requests)
    assert {(e.asset_key.to_user_string(), e.partition) for e in result.asset_events} == {
        ("raw_ticks", partition_key(s, d)) for s, d in requested(result)
    }


def test_no_change_means_no_requests(lake_resource, instance):
    lake = lake_resource.get_lake()
    put_parts(lake, "EURUSD", TODAY, n=3)
    put_parts(lake, "EURUSD", LAST_MONTH, n=3)
    settle(lake)
    harness = Harness(lake_resource, instance)
    assert requested(harness.tick())
    again = harness.tick()
    assert again.run_requests == [] and again.asset_events == [] and not again.dynamic_partitions_requests


def test_new_parts_for_today_and_a_new_symbol(lake_resource, instance):
    lake = lake_resource.get_lake()
    put_parts(lake, "EURUSD", TODAY, n=2)
    put_parts(lake, "EURUSD", LAST_MONTH)
    settle(lake)
    harness = Harness(lake_resource, instance)
    harness.tick()
    put_parts(lake, "EURUSD", TODAY, n=1, start=100)
    put_parts(lake, "GBPUSD", TODAY - dt.timedelta(days=1))
    put_parts(lake, "GBPUSD", TODAY - dt.timedelta(days=20))
    result = harness.tick()
    assert [list(r.partition_keys) for r in result.dynamic_partitions_requests] == [["GBPUSD"]]
    assert requested(result) == {
        ("EURUSD", TODAY),
        ("GBPUSD", TODAY - dt.timedelta(days=1)),
        ("GBPUSD", TODAY - dt.timedelta(days=20)),
    }


def test_a_late_part_for_last_month_is_noticed(lake_resource, instance):
    lake = lake_resource.get_lake()
    put_parts(lake, "EURUSD", TODAY, n=2)
    put_parts(lake, "EURUSD", LAST_MONTH, n=2, start=10)
    settle(lake)
    harness = Harness(lake_resource, instance)
    harness.tick()
    put_parts(lake, "EURUSD", LAST_MONTH, n=1, start=0)  # sorts before the parts already there
    result = harness.tick()
    assert requested(result) == {("EURUSD", LAST_MONTH)}
    assert harness.tick().run_requests == []


def test_more_than_1000_keys_are_paged_through_in_bounded_ticks(lake_resource, instance):
    lake = lake_resource.get_lake()
    today_keys = put_parts(lake, "EURUSD", TODAY, n=1100)
    put_parts(lake, "EURUSD", LAST_MONTH, n=5)
    settle(lake)
    harness = Harness(
        lake_resource,
        instance,
        TicklakeSettings(
            sensor_refresh_seconds=0,
            sensor_skew_seconds=1.0,
            sensor_sweep_keys=800,
            sensor_sweep_minutes=0,
            watch_feed=False,
        ),
    )
    seen = set()
    for _ in range(4):  # 1100 tailed (two list pages) + 1105 swept at 800 keys a tick (a pass takes two ticks)
        result = harness.tick()
        seen |= requested(result)
    cursor = LakeCursor.from_json(harness.cursor)
    assert cursor.tails[f"EURUSD/{TODAY}"] == max(today_keys)
    assert "EURUSD" in cursor.pass_previous  # the sweep finished a full pass over 1105 keys
    assert seen == {("EURUSD", TODAY), ("EURUSD", LAST_MONTH)}
    assert harness.tick().run_requests == []
    put_parts(lake, "EURUSD", LAST_MONTH - dt.timedelta(days=1))
    late = set()
    for _ in range(4):
        late |= requested(harness.tick())
    assert late == {("EURUSD", LAST_MONTH - dt.timedelta(days=1))}


def test_an_unchanged_lake_costs_only_the_symbol_listing_and_tails_until_the_sweep_is_due(
    lake_resource, instance, monkeypatch
):
    lake = lake_resource.get_lake()
    for symbol in ("EURUSD", "GBPUSD"):
        put_parts(lake, symbol, TODAY, n=3)
        put_parts(lake, symbol, LAST_MONTH, n=3, start=10)
    settle(lake)
    requests = ListRequests(monkeypatch)
    clock = [time.time() - 60]  # behind the lake's clock: parts written from now on are newer than the first pass
    settings = TicklakeSettings(
        sensor_refresh_seconds=0, sensor_skew_seconds=1.0, sensor_sweep_minutes=60, watch_feed=False
    )
    harness = Harness(lake_resource, instance, settings, clock=lambda: clock[0])
    assert len(requested(harness.tick())) == 4
    first = requests.count
    assert first == 1 + 2 * 2 + 2  # ticks/, today and yesterday per symbol, each symbol's sweep pass
    put_parts(lake, "EURUSD", LAST_MONTH, n=1, start=0)  # a late part for an old day
    for _ in range(3):
        clock[0] += 30
        assert harness.tick().run_requests == []
    assert requests.count - first == 3 * (1 + 2 * 2)  # no sweep inside the interval: symbols and tails only
    clock[0] += 59 * 60
    assert requested(harness.tick()) == {("EURUSD", LAST_MONTH)}  # the next pass after the interval finds it
    assert requests.count - first == 3 * 5 + 5 + 2
    clock[0] += 30
    assert harness.tick().run_requests == []


def test_a_new_symbol_is_swept_at_once_while_the_others_wait_for_the_interval(file_lake_resource, instance):
    lake = file_lake_resource.get_lake()
    put_parts(lake, "EURUSD", LAST_MONTH)
    clock = [time.time()]
    settings = TicklakeSettings(
        sensor_refresh_seconds=0, sensor_skew_seconds=1.0, sensor_sweep_minutes=60, watch_feed=False
    )
    harness = Harness(file_lake_resource, instance, settings, clock=lambda: clock[0])
    assert requested(harness.tick()) == {("EURUSD", LAST_MONTH)}
    finished = LakeCursor.from_json(harness.cursor).pass_finished
    put_parts(lake, "GBPUSD", LAST_MONTH)
    clock[0] += 30
    assert requested(harness.tick()) == {("GBPUSD", LAST_MONTH)}
    cursor = LakeCursor.from_json(harness.cursor)
    assert cursor.pass_finished == {**finished, "GBPUSD": clock[0]}  # EURUSD's pass is not due for an hour


def test_a_live_day_is_refreshed_once_per_interval_and_never_beside_a_pending_run(file_lake_resource, instance):
    lake = file_lake_resource.get_lake()
    put_parts(lake, "EURUSD", TODAY)
    clock = [time.time() + 5]
    settings = TicklakeSettings(sensor_refresh_seconds=300, sensor_skew_seconds=1.0, watch_feed=False)
    harness = Harness(file_lake_resource, instance, settings, clock=lambda: clock[0])
    assert requested(harness.tick()) == {("EURUSD", TODAY)}
    [key] = put_parts(lake, "EURUSD", TODAY, start=50)
    clock[0] += 60
    os.utime(lake.root / key, (clock[0] - 10, clock[0] - 10))  # written on the sensor's (simulated) clock
    assert harness.tick().run_requests == []  # inside the 5-minute interval: remembered, not requested
    assert str(partition_key("EURUSD", TODAY)) in LakeCursor.from_json(harness.cursor).dirty
    queued = dg.DagsterRun(
        job_name="__ASSET_JOB",
        run_id=make_new_run_id(),
        status=DagsterRunStatus.STARTED,
        tags={"dagster/partition": str(partition_key("EURUSD", TODAY))},
    )
    instance.add_run(queued)
    clock[0] += 300
    assert harness.tick().run_requests == []  # a run for the partition is still running
    instance.report_run_canceled(queued)
    clock[0] += 30
    assert requested(harness.tick()) == {("EURUSD", TODAY)}


def test_keys_that_are_not_raw_parts_are_ignored(file_lake_resource, instance):
    lake = file_lake_resource.get_lake()
    lake.put("ticks/eurusd/2025/01/02/part-1.parquet", b"x")  # lowercase: not a valid symbol
    lake.put("ticks/EURUSD/2025/13/01/part-1.parquet", b"x")  # month 13
    lake.put("ticks/EURUSD/2025/01/02/notes.txt", b"x")
    lake.put("ticks_daily/symbol=EURUSD/date=2025-01-02/ticks.parquet", b"x")
    result = Harness(file_lake_resource, instance).tick()
    assert result.run_requests == []
    assert [list(r.partition_keys) for r in result.dynamic_partitions_requests] == [["EURUSD"]]


def test_consecutive_days_share_one_run_that_dagster_executes(file_lake_resource, database, instance):
    lake = file_lake_resource.get_lake()
    days = [TODAY - dt.timedelta(days=i) for i in (12, 11, 10)]
    for i, day in enumerate(days):
        write_parquet_parts(lake, "EURUSD", random_ticks(40 + i, day=day, n=600), parts=2, day=day)
    result = Harness(file_lake_resource, instance).tick()
    [request] = result.run_requests
    assert request.partition_key is None and set(request_partitions(request)) == {("EURUSD", d) for d in days}
    run = dg.materialize(
        [ticks_and_candles],
        instance=instance,
        tags=request.tags,
        resources={"lake": file_lake_resource, "database": database, "settings": TicklakeSettings()},
    )
    assert run.success
    assert instance.get_materialized_partitions(dg.AssetKey("candles_5m")) == {partition_key("EURUSD", d) for d in days}
    assert fetch_candles(database)["trades"].sum() > 0
