"""The monthly bill against figures computed by hand (written out below), free allowances included."""

import dataclasses

import pytest

from ticklake_dagster.core.errors import InvalidInput
from ticklake_dagster.lake.costs import (
    R2_DEFAULTS,
    S3_DEFAULTS,
    LakeActivity,
    bill,
    billable,
    monthly_usage,
    r2_prices,
    s3_prices,
    sensor_requests_per_tick,
    sweep_passes_per_month,
    sweep_requests_per_pass,
)

ACTIVITY = LakeActivity(
    stored_bytes=25_000_000_000,
    symbols=2,
    parts_per_day=2000,
    part_bytes=5000,
    listed_keys=100_000,
    sensor_interval_s=30,
    sensor_live_days=2,
    sensor_sweep_keys=5000,
    sensor_refresh_s=300,
    sensor_sweep_s=0,
)  # unpaced: the sweep never rests


def test_usage_by_activity():
    # 1 symbol listing + 2 symbols x 2 live days every tick
    assert sensor_requests_per_tick(ACTIVITY) == 5
    # a pass over 100,000 keys at 5,000 a tick takes 20 ticks: 100 pages + 1 symbol switch + 19 tick boundaries
    assert sweep_requests_per_pass(ACTIVITY) == 120
    assert sweep_passes_per_month(ACTIVITY) == 86_400 / 20  # back to back: 600 s a pass
    ingester, sensor, sweep, runs = monthly_usage(ACTIVITY)
    assert ingester.class_a == 2000 * 30
    assert sensor.class_a == 5 * 86_400  # 86,400 ticks a month at 30 s
    assert sweep.class_a == 120 * 4320  # 6 requests a tick on average, as an unpaced sweep of 5,000 keys a tick
    # 1000 parts a day per symbol: 288 live runs (one per 5 minutes) + the daily run, 60 symbol-days a month
    assert runs.class_a == 60 * 2 * 289
    assert runs.class_b == 60 * (288 * 500 + 1000 + 4 * 289)
    assert runs.egress_bytes == 60 * (288 * 500 + 1000) * 5000


def test_a_paced_sweep_lists_a_small_lake_once_an_hour():
    demo = LakeActivity(stored_bytes=22_000_000, symbols=3, parts_per_day=616.7, part_bytes=3800, listed_keys=4317)
    assert sensor_requests_per_tick(demo) == 7
    assert sweep_requests_per_pass(demo) == 5 + 2  # 5 pages + 2 symbol switches, all in one tick
    assert sweep_passes_per_month(demo) == 720  # one an hour
    _, sensor, sweep, _ = monthly_usage(demo)
    assert (sensor.class_a, sweep.class_a) == (7 * 86_400, 7 * 720)
    unpaced = dataclasses.replace(demo, sensor_sweep_s=0)
    assert sweep_passes_per_month(unpaced) == 86_400  # every tick: 14 requests a tick, as before pacing
    assert monthly_usage(unpaced)[2].class_a == 7 * 86_400
    big = dataclasses.replace(demo, listed_keys=2_000_000)  # 400 ticks (3h20m) a pass, longer than the hour
    assert sweep_passes_per_month(big) == 86_400 / 400


def test_r2_bill_with_free_tiers():
    b = bill(R2_DEFAULTS, ACTIVITY.stored_bytes, monthly_usage(ACTIVITY))
    assert b.class_a == 1_045_080 and b.class_b == 8_769_360
    assert b.storage == pytest.approx((25 - 10) * 0.015)  # 10 GB-month free
    assert b.class_a_cost == pytest.approx(4.50)  # 45,080 over the free million, rounded up to a million
    assert b.class_b_cost == 0  # under the 10 million free
    assert b.egress == 0
    assert b.total == pytest.approx(0.225 + 4.50)


def test_s3_bill_without_free_tiers_and_with_egress():
    b = bill(S3_DEFAULTS, ACTIVITY.stored_bytes, monthly_usage(ACTIVITY), egress=True)
    assert b.storage == pytest.approx(25 * 0.023)
    assert b.class_a_cost == pytest.approx(1_046_000 / 1e6 * 5.00)  # billed per 1,000 requests
    assert b.class_b_cost == pytest.approx(8_770_000 / 1e6 * 0.40)
    assert b.egress_gb == pytest.approx(43.5) and b.egress == pytest.approx(43.5 * 0.09)
    assert b.total == pytest.approx(0.575 + 5.23 + 3.508 + 3.915)


def test_small_lake_is_free_on_r2():
    small = LakeActivity(
        stored_bytes=10_000_000, symbols=1, parts_per_day=10, part_bytes=1000, listed_keys=100, sensor_interval_s=600
    )
    b = bill(R2_DEFAULTS, small.stored_bytes, monthly_usage(small))
    assert b.total == 0 and b.lines[0].cost == pytest.approx(0.01 * 0.015)


def test_billable_rounds_up_whole_units():
    assert billable(10.0, 10.0, 1.0) == 0
    assert billable(10.2, 10.0, 1.0) == 1
    assert billable(3_000_001, 1_000_000, 1_000_000) == 3_000_000
    assert billable(2.5, 0.0, 0.0) == 2.5


def test_prices_are_settings(monkeypatch):
    monkeypatch.setenv("TICKLAKE_PRICE_R2_STORAGE_GB_MONTH", "0.02")
    monkeypatch.setenv("TICKLAKE_PRICE_R2_FREE_CLASS_A_MILLION", "0")
    monkeypatch.setenv("TICKLAKE_PRICE_S3_EGRESS_GB", "0.05")
    r2, s3 = r2_prices(), s3_prices()
    assert (r2.storage_gb_month, r2.free_class_a_million, r2.class_b_million) == (0.02, 0.0, 0.36)
    assert s3.egress_gb == 0.05
    b = bill(r2, ACTIVITY.stored_bytes, monthly_usage(ACTIVITY))
    assert b.class_a_cost == pytest.approx(2 * 4.50) and b.storage == pytest.approx(15 * 0.02)
    monkeypatch.setenv("TICKLAKE_PRICE_R2_CLASS_B_MILLION", "cheap")
    with pytest.raises(InvalidInput, match="TICKLAKE_PRICE_R2_CLASS_B_MILLION"):
        r2_prices()
