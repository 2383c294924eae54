"""The monthly history path: days compacted and written like the daily path, only the days it owns,
empty days and months recorded as no data, higher timeframes always written."""

import datetime as dt
import io

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ticklake_dagster.candles.history_path import (
    compact_month,
    history_owned_days,
    lake_coverage,
    month_days,
    write_month,
)
from ticklake_dagster.defs.assets.history import HISTORY_CANDLES, HISTORY_TICKS, history_month, history_partition_key
from ticklake_dagster.defs.resources import TicklakeSettings
from ticklake_dagster.lake.keys import daily_key
from ticklake_dagster_tests.factories import fetch_candles, instance_with_symbols, random_ticks, write_parquet_parts

MONTH = dt.date(2025, 2, 1)
DAILY_START = dt.date(2025, 2, 25)  # 25-28 February belong to the daily path
DATA_DAYS = [dt.date(2025, 2, 3), dt.date(2025, 2, 4), dt.date(2025, 2, 7)]  # 8-9 Feb: an empty weekend
DAILY_DAY = dt.date(2025, 2, 26)
NOW = dt.datetime(2026, 11, 26, 12, tzinfo=dt.timezone.utc)
SENTINEL = b"written by the daily path"


@pytest.fixture
def lake_with_month(file_lake_resource):
    lake = file_lake_resource.get_lake()
    for i, day in enumerate([*DATA_DAYS, DAILY_DAY]):
        write_parquet_parts(lake, "EURUSD", random_ticks(i, day, n=400), parts=2, day=day)
    lake.put(daily_key("EURUSD", DAILY_DAY), SENTINEL)  # the daily path's newer work for its day
    return lake


def test_month_days_and_ownership():
    assert len(month_days(MONTH)) == 28 and month_days(dt.date(2024, 2, 1))[-1] == dt.date(2024, 2, 29)
    owned = history_owned_days(MONTH, DAILY_START)
    assert owned[0] == MONTH and owned[-1] == dt.date(2025, 2, 24)
    assert history_owned_days(MONTH, MONTH) == []  # a month inside the daily window is left alone


def test_lake_coverage_lists_days_with_and_without_parts(lake_with_month):
    with_data, without = lake_coverage(lake_with_month, "EURUSD", dt.date(2025, 1, 30), dt.date(2025, 2, 9))
    assert with_data == DATA_DAYS
    assert without == [
        dt.date(2025, 1, 30),
        dt.date(2025, 1, 31),
        dt.date(2025, 2, 1),
        dt.date(2025, 2, 2),
        dt.date(2025, 2, 5),
        dt.date(2025, 2, 6),
        dt.date(2025, 2, 8),
        dt.date(2025, 2, 9),
    ]


@pytest.mark.parametrize("keep_days, kept", [(90, False), (3650, True)])
def test_month_written_like_the_daily_path_and_leaves_the_daily_days(lake_with_month, database, keep_days, kept):
    flavor = database.ensure_schema()
    with database.connect() as conn, conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO candles_12h (time, symbol, open, high, low, close, trades, spread_avg)"
            " VALUES (%s, 'EURUSD', 9, 9, 9, 9, 9, 9)",
            (dt.datetime(2025, 2, 26, tzinfo=dt.timezone.utc),),
        )
    result = compact_month(lake_with_month, "EURUSD", MONTH, DAILY_START)
    assert result.data_days == DATA_DAYS and len(result.empty_days) == 24 - 3 and len(result.daily_owned) == 4
    with database.connect() as conn:
        result = write_month(conn, flavor, result, keep_days, NOW)

    # Each compacted file holds exactly the day's ticks as written, deduplicated and sorted by ts: checked
    # against the ticks the fixture wrote, not against the compact_day that compact_month calls.
    for i, day in enumerate(DATA_DAYS):
        written = random_ticks(i, day, n=400).drop_duplicates()
        table = pq.read_table(io.BytesIO(lake_with_month.get(daily_key("EURUSD", day))))
        stored = pd.DataFrame(
            {
                "ts_ms": table["ts"].cast(pa.int64()).to_numpy(),
                "bid": table["bid"].to_numpy(),
                "ask": table["ask"].to_numpy(),
            }
        )
        assert len(result.candles[day]) and len(stored) == len(written)
        assert bool((stored["ts_ms"].diff().dropna() >= 0).all())
        assert sorted(stored.itertuples(index=False)) == sorted(written.itertuples(index=False))
        assert result.days[(day - MONTH).days].ticks[["ts_ms", "bid", "ask"]].reset_index(drop=True).equals(stored)
    assert lake_with_month.get(daily_key("EURUSD", DAILY_DAY)) == SENTINEL
    assert not lake_with_month.exists(daily_key("EURUSD", dt.date(2025, 2, 8)))

    halves = fetch_candles(database, "candles_12h", "EURUSD")
    by_day = halves.groupby(halves["time"].dt.date)["trades"].sum().to_dict()
    assert {d: by_day[d] for d in DATA_DAYS} == {d: int(result.candles[d]["trades"].sum()) for d in DATA_DAYS}
    assert by_day[DAILY_DAY] == 9  # the daily path's row for its day is untouched
    hourly = fetch_candles(database, "candles_1h", "EURUSD")
    assert int(hourly["trades"].sum()) == result.ticks
    five = fetch_candles(database, "candles_5m", "EURUSD")
    assert (len(five) == sum(len(c) for c in result.candles.values())) is kept
    assert result.pruned_5m is not kept


def test_history_run_records_months_with_data_and_observes_empty_ones(
    lake_with_month, file_lake_resource, database, monkeypatch
):
    monkeypatch.setenv("TICKLAKE_START_DATE", DAILY_START.isoformat())
    instance = instance_with_symbols("EURUSD")
    january, february = history_partition_key("EURUSD", dt.date(2025, 1, 1)), history_partition_key("EURUSD", MONTH)
    result = dg.materialize(
        [history_month],
        instance=instance,
        resources={"lake": file_lake_resource, "database": database, "settings": TicklakeSettings()},
        tags={"dagster/asset_partition_range_start": january, "dagster/asset_partition_range_end": february},
    )
    assert result.success
    for key in (HISTORY_TICKS, HISTORY_CANDLES):
        assert instance.get_materialized_partitions(key) == {february}
        observed = instance.fetch_observations(key, limit=10).records
        assert [(r.partition_key, r.asset_observation.metadata["no_data"].value) for r in observed] == [(january, True)]
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks and all(e.passed for e in checks.values())
    assert checks["trades_match_tick_count"].metadata["partitions_checked"].value == 1  # January had nothing to check
    assert int(fetch_candles(database, "candles_12h", "EURUSD")["trades"].sum()) > 0


def test_timescaledb_keeps_the_higher_timeframes_of_a_pruned_month(lake_with_month, timescale_database):
    """Continuous aggregates refreshed from the month's 5-minute rows survive dropping those rows' chunks."""
    flavor = timescale_database.ensure_schema()
    assert flavor == "timescaledb"
    result = compact_month(lake_with_month, "EURUSD", MONTH, DAILY_START)
    with timescale_database.connect() as conn:
        result = write_month(conn, flavor, result, 90, NOW)
    assert result.pruned_5m
    assert fetch_candles(timescale_database, "candles_5m", "EURUSD").empty
    for relation in ("candles_15m", "candles_1h", "candles_4h", "candles_12h"):
        rows = fetch_candles(timescale_database, relation, "EURUSD")
        assert int(rows["trades"].sum()) == result.ticks, relation
        assert sorted(set(rows["time"].dt.date)) == DATA_DAYS, relation


def test_pruning_old_5m_rows_stays_inside_the_runs_own_symbol_month(lake_with_month, database):
    """Another run's freshly written old rows (other symbol, other month) are not deleted under it."""
    flavor = database.ensure_schema()
    others = [
        ("GBPUSD", dt.datetime(2025, 2, 3, 10, tzinfo=dt.timezone.utc)),
        ("EURUSD", dt.datetime(2025, 1, 31, 10, tzinfo=dt.timezone.utc)),
    ]
    with database.connect() as conn, conn, conn.cursor() as cur:
        for symbol, time in others:
            cur.execute(
                "INSERT INTO candles_5m (time, symbol, open, high, low, close, trades, spread_avg)"
                " VALUES (%s, %s, 1, 1, 1, 1, 1, 0)",
                (time, symbol),
            )
    with database.connect() as conn:
        result = write_month(conn, flavor, compact_month(lake_with_month, "EURUSD", MONTH, DAILY_START), 90, NOW)
    assert result.pruned_rows == sum(len(c) for c in result.candles.values())
    left = fetch_candles(database, "candles_5m")
    assert sorted(zip(left["symbol"], left["time"].dt.to_pydatetime())) == sorted((s, t) for s, t in others)
