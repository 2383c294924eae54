"""The 02:00 UTC schedule's run requests for a given evaluation time, built with build_schedule_context."""

import datetime as dt

import dagster as dg
import pytest

from ticklake_dagster.defs.assets import R2_TICKS, ticks_and_candles
from ticklake_dagster.defs.partitions import partition_key, request_partitions, symbol_partitions_def
from ticklake_dagster.defs.resources import TicklakeSettings
from ticklake_dagster.defs.run_planning import plan_daily
from ticklake_dagster.defs.schedules import daily_candles_schedule
from ticklake_dagster_tests.factories import random_ticks, wait_until_parts_are_older_than, write_parquet_parts

MONDAY = dt.datetime(2025, 11, 17, 2, 0, tzinfo=dt.timezone.utc)
THU, FRI, SAT, SUN = (dt.date(2025, 11, d) for d in (13, 14, 15, 16))


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions(symbol_partitions_def.name, ["EURUSD", "BTC-USD"])
        yield inst


def seed(lake, symbol, day, seed_n):
    write_parquet_parts(lake, symbol, random_ticks(seed_n, day=day, n=300), parts=2, day=day)


def materialize_r2(lake_resource, database, instance, symbol, day):
    assert dg.materialize(
        [ticks_and_candles],
        selection=[R2_TICKS],
        partition_key=partition_key(symbol, day),
        instance=instance,
        resources={"lake": lake_resource, "database": database, "settings": TicklakeSettings()},
    ).success


def evaluate(lake_resource, instance, when):
    with dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=when,
        resources={"lake": lake_resource, "settings": TicklakeSettings()},
    ) as context:
        return daily_candles_schedule(context)


def test_yesterday_for_every_active_symbol_plus_late_days(lake_resource, database, instance):
    lake = lake_resource.get_lake()
    for i, day in enumerate((THU, FRI)):
        seed(lake, "EURUSD", day, i)  # FX: nothing on Saturday, nor on Sunday evening (a hole)
    for i, day in enumerate((THU, FRI, SAT, SUN)):
        seed(lake, "BTC-USD", day, 10 + i)
    wait_until_parts_are_older_than(lake, 1.0)  # the runs below start after every part's (whole-second) mtime
    for symbol, day in (("EURUSD", THU), ("EURUSD", FRI), ("BTC-USD", THU), ("BTC-USD", FRI)):
        materialize_r2(lake_resource, database, instance, symbol, day)
    seed(lake, "EURUSD", THU, 99)  # a late part for Thursday, after its run
    requests = evaluate(lake_resource, instance, MONDAY)
    got = sorted(p for r in requests for p in request_partitions(r))
    # Sunday for both (yesterday: EURUSD's is a hole, its run fails); EURUSD Thursday (changed); BTC-USD
    # Saturday (never materialized).
    assert got == sorted([("BTC-USD", SUN), ("EURUSD", SUN), ("EURUSD", THU), ("BTC-USD", SAT)])
    by_partition = {tuple(request_partitions(r)): r for r in requests}
    assert by_partition[(("EURUSD", THU),)].tags["ticklake/late_data"] == "true"
    assert all(r.run_key for r in requests)

    plan = plan_daily(lake, instance, MONDAY, 7, {})
    assert f"EURUSD {SUN}: no raw parts (market open: a hole, its run fails)" in plan.log
    # on Sunday morning, Saturday is requested too: the run records FX's closed day as done
    saturday = plan_daily(lake, instance, MONDAY - dt.timedelta(days=1), 7, {})
    assert ("EURUSD", SAT) in saturday.yesterday and f"EURUSD {SAT}: no raw parts (market closed)" in saturday.log


def test_nothing_to_do_is_a_skip_not_a_failure(file_lake_resource, instance):
    """Symbols without a part in the lookback window are retired: no run, no daily hole."""
    result = evaluate(file_lake_resource, instance, MONDAY)
    assert isinstance(result, dg.SkipReason) and "nothing to materialize" in result.skip_message


def test_cron_is_two_in_the_morning_utc():
    assert daily_candles_schedule.cron_schedule == "0 2 * * *"
    assert daily_candles_schedule.execution_timezone == "UTC"
