"""The lake sensor's watch on the feed itself: a dead ingester writes no parts, so no run would check freshness."""

import datetime as dt

import dagster as dg
import pytest

from ticklake_dagster.core.days import day_start_ms
from ticklake_dagster.defs.checks import feed_freshness
from ticklake_dagster.defs.partitions import partition_key
from ticklake_dagster.defs.resources import TicklakeSettings
from ticklake_dagster.lake.keys import DEMO_PART_SUFFIX, DUKASCOPY_PART_SUFFIX, part_start_ms, raw_part_key
from ticklake_dagster.lake.scan import LakeCursor
from ticklake_dagster_tests.test_sensors.test_lake_sensor import Harness

THURSDAY = dt.date(2025, 11, 13)
NOON = dt.datetime(2025, 11, 13, 12, tzinfo=dt.timezone.utc).timestamp()
MINUTE_MS = 60_000


def cursor_with(newest_ms: dict[str, int]) -> LakeCursor:
    return LakeCursor(newest_part_ms=dict(newest_ms))


def test_part_names_give_their_first_tick():
    assert part_start_ms(raw_part_key("EURUSD", THURSDAY, 1763035200123, suffix="ab12")) == 1763035200123
    assert part_start_ms("ticks/EURUSD/2025/11/13/part-legacy.json") is None


def test_a_stale_feed_is_reported_once_and_resolved_when_parts_resume():
    cursor = cursor_with({"EURUSD": int(NOON * 1000) - 60 * MINUTE_MS, "GBPUSD": int(NOON * 1000) - 5 * MINUTE_MS})
    [event] = feed_freshness(cursor.newest_part_ms, cursor.stale, ["EURUSD", "GBPUSD"], NOON, 30)
    assert (event.asset_key, event.check_name, event.passed) == (dg.AssetKey("candles_5m"), "freshness", False)
    assert event.partition == str(partition_key("EURUSD", THURSDAY)) and "60 minutes" in event.description
    assert event.severity == dg.AssetCheckSeverity.WARN
    assert (
        feed_freshness(cursor.newest_part_ms, cursor.stale, ["EURUSD", "GBPUSD"], NOON + 60, 30) == []
    )  # still stale: not reported again
    cursor.newest_part_ms["EURUSD"] = int(NOON * 1000) + 2 * MINUTE_MS
    [back] = feed_freshness(cursor.newest_part_ms, cursor.stale, ["EURUSD", "GBPUSD"], NOON + 180, 30)
    assert back.passed and back.partition == event.partition
    assert cursor.stale == {}


def test_closed_markets_new_days_and_retired_symbols():
    saturday_noon = NOON + 2 * 86_400
    friday_evening = day_start_ms(THURSDAY) + 86_400_000 + 20 * 3_600_000
    cursor = cursor_with(
        {"EURUSD": friday_evening, "BTC-USD": friday_evening, "OLD": int(NOON * 1000) - 10 * 86_400_000}
    )
    events = feed_freshness(cursor.newest_part_ms, cursor.stale, ["EURUSD", "BTC-USD", "OLD"], saturday_noon, 30)
    assert [(e.partition, e.passed) for e in events] == [
        (str(partition_key("BTC-USD", THURSDAY + dt.timedelta(days=2))), False)
    ]
    # Just after midnight the day is young: the age counts from midnight, not from yesterday's last part.
    cursor = cursor_with({"EURUSD": day_start_ms(THURSDAY) - 10 * MINUTE_MS})
    assert (
        feed_freshness(cursor.newest_part_ms, cursor.stale, ["EURUSD"], day_start_ms(THURSDAY) / 1000 + 20 * 60, 30)
        == []
    )
    [late] = feed_freshness(
        cursor.newest_part_ms, cursor.stale, ["EURUSD"], day_start_ms(THURSDAY) / 1000 + 40 * 60, 30
    )
    assert late.partition == str(partition_key("EURUSD", THURSDAY)) and not late.passed


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def test_the_lake_sensor_reports_a_dead_feed_through_dagster(file_lake_resource, instance):
    lake = file_lake_resource.get_lake()
    lake.put(raw_part_key("EURUSD", THURSDAY, int(NOON * 1000) - 120 * MINUTE_MS, suffix="a"), b"")
    settings = TicklakeSettings(sensor_refresh_seconds=0, sensor_skew_seconds=1.0, freshness_minutes=30)
    harness = Harness(file_lake_resource, instance, settings, clock=lambda: NOON)

    def freshness_events():
        return [
            (e.check_name, e.passed, e.partition)
            for e in harness.tick().asset_events
            if isinstance(e, dg.AssetCheckEvaluation)
        ]

    today = str(partition_key("EURUSD", THURSDAY))
    assert freshness_events() == [("freshness", False, today)]
    assert freshness_events() == []  # reported once
    lake.put(raw_part_key("EURUSD", THURSDAY, int(NOON * 1000) - 2 * MINUTE_MS, suffix="b"), b"")
    assert freshness_events() == [("freshness", True, today)]


def test_seeded_demo_and_imported_parts_are_no_feed_to_go_stale(file_lake_resource, instance):
    """`make demo` runs no ingester: its seeded parts (and a history import's) must not page "is the ingester
    running?".
    """
    lake = file_lake_resource.get_lake()
    for suffix in (DEMO_PART_SUFFIX, DUKASCOPY_PART_SUFFIX):
        lake.put(raw_part_key("EURUSD", THURSDAY, int(NOON * 1000) - 120 * MINUTE_MS, suffix=suffix), b"")
    settings = TicklakeSettings(sensor_refresh_seconds=0, sensor_skew_seconds=1.0, freshness_minutes=30)
    harness = Harness(file_lake_resource, instance, settings, clock=lambda: NOON)
    events = harness.tick().asset_events
    assert not [e for e in events if isinstance(e, dg.AssetCheckEvaluation)]
    lake.put(raw_part_key("EURUSD", THURSDAY, int(NOON * 1000) - 110 * MINUTE_MS, suffix="live"), b"")
    stale = [e for e in harness.tick().asset_events if isinstance(e, dg.AssetCheckEvaluation)]
    assert [(e.check_name, e.passed) for e in stale] == [("freshness", False)]  # a live part is a feed again
