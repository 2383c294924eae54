"""Retention keeps N days of 5-minute candles (plain PostgreSQL delete, TimescaleDB policy + drop_chunks), never
the lake.
"""

import datetime as dt

import pandas as pd

from ticklake_dagster.candles.building import build_candles
from ticklake_dagster.candles.sql import apply_retention, retention_cutoff, write_day
from ticklake_dagster.defs.resources import TicklakeSettings
from ticklake_dagster.defs.retention import candle_retention_job
from ticklake_dagster.ticks.validation import clean_day
from ticklake_dagster_tests.factories import fetch_candles, random_ticks, write_parquet_parts

NOW = dt.datetime(2025, 11, 20, 3, 30, tzinfo=dt.timezone.utc)
OLD, KEPT = dt.date(2025, 8, 1), dt.date(2025, 11, 10)


def seed_candles(database):
    flavor = database.ensure_schema()
    with database.connect() as conn:
        for i, day in enumerate((OLD, KEPT)):
            write_day(
                conn, flavor, "EURUSD", day, build_candles(clean_day(random_ticks(i, day=day, n=3000), day).ticks)
            )
    return flavor


def days_in(frame: pd.DataFrame) -> set:
    return set(frame["time"].dt.date)


def test_plain_postgres_deletes_days_before_the_window_and_keeps_rollups(database, file_lake_resource):
    flavor = seed_candles(database)
    lake = file_lake_resource.get_lake()
    write_parquet_parts(lake, "EURUSD", random_ticks(3, day=OLD), day=OLD)
    before_lake = sorted(o.key for o in lake.list(""))
    with database.connect() as conn:
        result = apply_retention(conn, flavor, 90, NOW)
    assert result.cutoff == dt.datetime(2025, 8, 22, tzinfo=dt.timezone.utc) == retention_cutoff(NOW, 90)
    assert result.rows_deleted == 288
    assert days_in(fetch_candles(database)) == {KEPT}
    assert days_in(fetch_candles(database, "candles_12h")) == {OLD, KEPT}  # higher timeframes stay
    assert sorted(o.key for o in lake.list("")) == before_lake  # the lake is never pruned


def test_the_job_keeps_the_window_its_settings_give(database):
    seed_candles(database)
    result = candle_retention_job.execute_in_process(
        resources={"database": database, "settings": TicklakeSettings(retention_days=1)}
    )
    assert result.success
    assert fetch_candles(database).empty  # both seeded days are older than yesterday


def test_timescaledb_gets_a_retention_policy_and_old_chunks_dropped(timescale_database):
    flavor = seed_candles(timescale_database)
    assert flavor == "timescaledb"
    with timescale_database.connect() as conn:
        result = apply_retention(conn, flavor, 90, NOW)
        again = apply_retention(conn, flavor, 90, NOW)
        with conn.cursor() as cur:
            cur.execute(
                "SELECT config->>'drop_after' FROM timescaledb_information.jobs"
                " WHERE proc_name = 'policy_retention' AND hypertable_name = 'candles_5m'"
            )
            policies = cur.fetchall()
    assert policies == [("90 days",)] and again.policy == "drop_after 90 days"
    assert result.chunks_dropped >= 1 and again.chunks_dropped == 0
    assert days_in(fetch_candles(timescale_database)) == {KEPT}
