"""What "done" means for the daily step: days with ticks and closed days are materialized, a hole fails.

Through Dagster's own execution (dg.materialize) on a real lake folder and PostgreSQL; the partition
statuses are read back the way the UI reads them (instance.get_status_by_partition).
"""

import datetime as dt

import dagster as dg

from ticklake_dagster.core.days import day_start_ms
from ticklake_dagster.defs.assets import CANDLES_5M, R2_TICKS, ticks_and_candles
from ticklake_dagster.defs.checks import CANDLES_GAPS_CHECK
from ticklake_dagster.defs.partitions import partition_key, range_tags, ticks_partitions_def
from ticklake_dagster.defs.resources import TicklakeSettings
from ticklake_dagster.lake.stats import GapRange, collect_stats
from ticklake_dagster_tests.factories import (
    fetch_candles,
    instance_with_symbols,
    materializations,
    random_ticks,
    write_parquet_parts,
)

FRIDAY, SATURDAY, SUNDAY, MONDAY, TUESDAY = (dt.date(2025, 11, d) for d in range(14, 19))
HOUR_MS = 3_600_000


def sunday_evening_ticks(n: int = 2_000):
    """Ticks in the FX week's first hours: Sunday 17:00 New York (22:00 UTC in November) to midnight."""
    ticks = random_ticks(7, day=SUNDAY, n=n)
    ticks["ts_ms"] = day_start_ms(SUNDAY) + 22 * HOUR_MS + (ticks["ts_ms"] - day_start_ms(SUNDAY)) % (2 * HOUR_MS)
    return ticks


def run(lake_resource, database, instance, first: dt.date, last: dt.date | None = None, symbol: str = "EURUSD"):
    """One day as a single-partition run, or first..last as one ranged run (what a backfill's policy makes)."""
    if last is None:
        selection: dict = {"partition_key": str(partition_key(symbol, first))}
    else:
        selection = {"tags": range_tags((symbol, first), (symbol, last))}
    return dg.materialize(
        [ticks_and_candles],
        instance=instance,
        resources={"lake": lake_resource, "database": database, "settings": TicklakeSettings()},
        raise_on_error=False,
        **selection,
    )


def statuses(instance, asset_key: dg.AssetKey, days, symbol: str = "EURUSD") -> dict[dt.date, str | None]:
    keys = [str(partition_key(symbol, d)) for d in days]
    found = instance.get_status_by_partition(asset_key, keys, ticks_partitions_def)
    return {d: (found[k].value if found.get(k) else None) for d, k in zip(days, keys)}


def step_failure(result) -> str:
    return next(e for e in result.all_events if e.is_step_failure).step_failure_data.error.message


def test_a_ranged_run_mixing_ticks_closed_days_and_a_hole(file_lake_resource, database):
    lake = file_lake_resource.get_lake()
    for i, day in enumerate((FRIDAY, TUESDAY)):
        write_parquet_parts(lake, "EURUSD", random_ticks(i, day=day, n=20_000), parts=2, day=day)
    write_parquet_parts(lake, "EURUSD", sunday_evening_ticks(), parts=1, day=SUNDAY)
    instance = instance_with_symbols("EURUSD")

    result = run(file_lake_resource, database, instance, FRIDAY, TUESDAY)

    assert not result.success
    assert "no ticks for EURUSD 2025-11-17, a day its market was open" in step_failure(result)
    days = [FRIDAY, SATURDAY, SUNDAY, MONDAY, TUESDAY]
    for asset_key in (R2_TICKS, CANDLES_5M):
        assert statuses(instance, asset_key, days) == {
            FRIDAY: "MATERIALIZED",
            SATURDAY: "MATERIALIZED",
            SUNDAY: "MATERIALIZED",
            MONDAY: "FAILED",
            TUESDAY: "MATERIALIZED",
        }, asset_key
    saturday = str(partition_key("EURUSD", SATURDAY))
    for asset in ("r2_ticks", "candles_5m"):
        closed = [m for m in materializations(result, asset) if m.partition == saturday]
        assert [(m.metadata["market"].value, m.metadata["ticks"].value) for m in closed] == [("closed", 0)]
    # the other days' candles were written in the same run
    candles = fetch_candles(database, "candles_5m", "EURUSD")
    assert set(candles["time"].dt.date) == {FRIDAY, SUNDAY, TUESDAY}
    kept = [m.metadata["ticks_kept"].value for m in materializations(result, "r2_ticks") if "ticks_kept" in m.metadata]
    assert int(candles["trades"].sum()) == sum(kept)
    # the checks judge the three days with ticks, each against its session (Sunday: two hours)
    gaps = next(e for e in result.get_asset_check_evaluations() if e.check_name == CANDLES_GAPS_CHECK)
    assert gaps.metadata["partitions_checked"].value == 3 and gaps.passed
    # the coverage report (`ticklake lake stats`) names the same hole as the partition page
    (eur,) = collect_stats(lake, symbols=["EURUSD"], first=FRIDAY, last=TUESDAY, today=TUESDAY).symbols
    assert eur.gaps == [GapRange(MONDAY, MONDAY, 1)]


def test_closed_days_and_holidays_succeed_as_closed(file_lake_resource, database, monkeypatch):
    monkeypatch.setenv("TICKLAKE_MARKET_HOLIDAYS", "fx=12-25")
    instance = instance_with_symbols("EURUSD")
    assert run(file_lake_resource, database, instance, SATURDAY).success
    christmas = dt.date(2025, 12, 25)  # a Thursday: its trade date is closed, and the market reopens at 17:00 NY
    assert not run(file_lake_resource, database, instance, christmas).success  # so 22:00-24:00 UTC was open
    monkeypatch.setenv("TICKLAKE_MARKET_HOLIDAYS", "fx=12-25 12-26")
    assert run(file_lake_resource, database, instance, christmas).success
    for asset_key in (R2_TICKS, CANDLES_5M):
        assert statuses(instance, asset_key, [SATURDAY, christmas]) == {
            SATURDAY: "MATERIALIZED",
            christmas: "MATERIALIZED",
        }


def test_a_hole_fails_its_single_day_run_with_the_reason(file_lake_resource, database):
    instance = instance_with_symbols("GBPUSD")
    wednesday = dt.date(2025, 11, 12)
    result = run(file_lake_resource, database, instance, wednesday, symbol="GBPUSD")
    assert not result.success
    assert "no ticks for GBPUSD 2025-11-12, a day its market was open" in step_failure(result)
    assert statuses(instance, CANDLES_5M, [wednesday], "GBPUSD") == {wednesday: "FAILED"}
    assert not result.get_asset_materialization_events()


def test_crypto_has_no_closed_days(file_lake_resource, database):
    instance = instance_with_symbols("BTCUSD")
    result = run(file_lake_resource, database, instance, SATURDAY, symbol="BTCUSD")
    assert not result.success
    assert "no ticks for BTCUSD 2025-11-15" in step_failure(result)


def test_higher_timeframes_are_written_and_observed_once_per_run(file_lake_resource, database):
    lake = file_lake_resource.get_lake()
    for i, day in enumerate((FRIDAY, MONDAY)):
        write_parquet_parts(lake, "EURUSD", random_ticks(i, day=day, n=5_000), parts=2, day=day)
    write_parquet_parts(lake, "EURUSD", sunday_evening_ticks(), parts=1, day=SUNDAY)
    instance = instance_with_symbols("EURUSD")
    assert run(file_lake_resource, database, instance, FRIDAY, MONDAY).success
    ticks = int(fetch_candles(database, "candles_5m", "EURUSD")["trades"].sum())
    for relation in ("candles_15m", "candles_1h", "candles_4h", "candles_12h"):
        assert int(fetch_candles(database, relation, "EURUSD")["trades"].sum()) == ticks
        records = instance.fetch_observations(dg.AssetKey(relation), limit=10).records
        assert len(records) == 1 and records[0].partition_key is None
        assert records[0].asset_observation.metadata["candle_count"].value > 0
