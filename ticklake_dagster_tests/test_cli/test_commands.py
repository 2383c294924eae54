"""`ticklake` as a user runs it: real subprocesses, real lake folder, real PostgreSQL."""

import datetime as dt
import subprocess
import sys

import numpy as np
import pytest

from ticklake_dagster.core.days import day_start_ms
from ticklake_dagster.defs.resources import DatabaseResource, LakeResource
from ticklake_dagster.lake.keys import daily_key, raw_part_key
from ticklake_dagster.lake.parts import ticks_to_parquet
from ticklake_dagster.sources.synthetic import generate_day
from ticklake_dagster_tests import servers
from ticklake_dagster_tests.factories import fetch_candles

WEEKDAY = "2025-11-13"


def ticklake(env, *args, check=True):
    proc = subprocess.run(
        [sys.executable, "-m", "ticklake_dagster.commands.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"ticklake {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


def assert_one_line_error(proc, expected: str):
    """Exit 1 and exactly one stderr line: `expected`, or starting with it when it ends in '*'."""
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    if expected.endswith("*"):
        assert lines[0].startswith(f"error: {expected[:-1]}"), lines[0]
    else:
        assert lines[0] == f"error: {expected}"
    assert "Traceback" not in proc.stdout


def test_seeding_the_demo_twice_replaces_its_parts_never_doubles_them(env, tmp_path):
    lake = LakeResource(url=f"file://{tmp_path / 'home' / 'lake'}").get_lake()
    live = raw_part_key("EURUSD", dt.date(2025, 11, 13), day_start_ms(dt.date(2025, 11, 13)) + 1, "live")
    lake.put(live, ticks_to_parquet(np.array([day_start_ms(dt.date(2025, 11, 13)) + 1]), [1.0], [1.1]))
    ticklake(env, "seed-demo", "--symbols", "EURUSD", "--days", "1", "--end", "2025-11-13")
    first = {o.key: lake.get(o.key) for o in lake.list("ticks/EURUSD/")}
    ticklake(env, "seed-demo", "--symbols", "EURUSD", "--days", "1", "--end", "2025-11-13")
    assert {o.key: lake.get(o.key) for o in lake.list("ticks/EURUSD/")} == first  # same keys, same bytes
    ticklake(env, "seed-demo", "--symbols", "EURUSD", "--days", "1", "--end", "2025-11-13", "--rate", "0.5")
    # another rate replaces the demo's parts; a part that is not the demo's stays
    assert live in {o.key for o in lake.list("ticks/EURUSD/")}
    out = ticklake(env, "materialize", "EURUSD", "2025-11-13", "--dry-run").stdout
    n = len(generate_day("EURUSD", dt.date(2025, 11, 13), rate=0.5)[0])
    assert f"EURUSD 2025-11-13: merged {n + 1} ticks (rejected: none; duplicates removed: 0)" in out


def test_seed_demo_then_materialize_a_weekday_gives_288_candles(env, database_url, tmp_path):
    ticklake(env, "seed-demo", "--symbols", "EURUSD", "--days", "3", "--end", "2025-11-15")
    out = ticklake(env, "materialize", "EURUSD", WEEKDAY).stdout
    assert f"EURUSD {WEEKDAY}: found 288 tick files" in out
    assert f"EURUSD {WEEKDAY}: built 288 candles" in out
    assert f"EURUSD {WEEKDAY}: 288 rows inserted, 0 updated, 0 removed in candles_5m" in out
    database = DatabaseResource(url=database_url, home=str(tmp_path))
    assert len(fetch_candles(database, symbol="EURUSD")) == 288
    assert len(fetch_candles(database, "candles_12h", symbol="EURUSD")) == 2
    again = ticklake(env, "materialize", "EURUSD", "2025-11-13:2025-11-15").stdout
    assert f"EURUSD {WEEKDAY}: 0 rows inserted, 288 updated, 0 removed" in again
    assert "EURUSD 2025-11-15: found 0 tick files (market closed)" in again  # Saturday: FX is closed, skipped
    # Friday's week ends at 17:00 New York, 22:00 UTC in November: 22 hours of 12 candles
    assert len(fetch_candles(database, symbol="EURUSD")) == 288 + 22 * 12


def test_dry_run_writes_nothing_anywhere(env, database_url, tmp_path):
    ticklake(env, "seed-demo", "--symbols", "GBPUSD", "--days", "1", "--end", WEEKDAY)
    out = ticklake(env, "materialize", "GBPUSD", WEEKDAY, "--dry-run").stdout
    assert "built 288 candles" in out and "dry run, nothing written" in out
    lake = LakeResource(url=f"file://{tmp_path / 'home' / 'lake'}").get_lake()
    assert not lake.exists(daily_key("GBPUSD", dt.date(2025, 11, 13)))
    with DatabaseResource(url=database_url, home=str(tmp_path)).connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass('candles_5m'), to_regclass('schema_migrations')")
        assert cur.fetchone() == (None, None)


def test_migrate_reports_plain_postgres(env):
    out = ticklake(env, "migrate").stdout
    assert "plain PostgreSQL" in out and "applied 0001_candles_5m.sql" in out
    assert "0 migrations applied" in ticklake(env, "migrate").stdout


def test_migrate_reports_timescaledb(env, timescale_database):
    out = ticklake({**env, "DATABASE_URL": timescale_database.url}, "migrate").stdout
    assert "TimescaleDB" in out and "applied 0003_rollups.timescaledb.sql" in out


@pytest.mark.parametrize(
    "args,expected",
    [
        (["materialize", "../x", WEEKDAY], "Invalid symbol '../x'*"),
        (["materialize", "eurusd", WEEKDAY], "Invalid symbol 'eurusd'*"),
        (["materialize", "EURUSD", "2025-13-01"], "Invalid date '2025-13-01': expected YYYY-MM-DD"),
        (
            ["materialize", "EURUSD", "2025-11-14:2025-11-13"],
            "Invalid range '2025-11-14:2025-11-13': end is before start",
        ),
        (["materialize", "EURUSD", "2025-W10-3"], "Invalid date '2025-W10-3': expected YYYY-MM-DD"),
        (["materialize", "EURUSD", "9999-12-31"], "Invalid date '9999-12-31': the last supported day is 9999-12-30"),
        (
            ["materialize", "EURUSD", WEEKDAY],
            f"No tick files found: no ticks for EURUSD {WEEKDAY}, a day its market was open",
        ),
        (["seed-demo", "--symbols", "BAD/SYM"], "Invalid symbol 'BAD/SYM'*"),
        (["seed-demo", "--days", "0"], "--days must be between 1 and 366, got 0"),
    ],
)
def test_bad_input_is_one_line(env, args, expected):
    assert_one_line_error(ticklake(env, *args, check=False), expected)


def test_unreachable_database_is_one_line_without_password(env):
    port = servers.free_port()
    env = {**env, "DATABASE_URL": f"postgresql://ticklake:hunter2@127.0.0.1:{port}/ticks?connect_timeout=2"}
    proc = ticklake(env, "migrate", check=False)
    assert_one_line_error(proc, f"Database unreachable at postgresql://ticklake:***@127.0.0.1:{port}/ticks*")
    assert "hunter2" not in proc.stderr + proc.stdout


def test_unreachable_lake_is_one_line_without_secret(env):
    port = servers.free_port()
    env = {
        **env,
        "TICKLAKE_LAKE_URL": "s3://ticks",
        "R2_ENDPOINT": f"http://127.0.0.1:{port}",
        "R2_ACCESS_KEY_ID": "id",
        "R2_SECRET_ACCESS_KEY": "topsecret-key",
    }
    proc = ticklake(env, "materialize", "EURUSD", WEEKDAY, "--dry-run", check=False)
    assert_one_line_error(proc, f"Lake unreachable: s3://ticks/ at http://127.0.0.1:{port}*")
    assert "topsecret" not in proc.stderr + proc.stdout


def test_missing_lake_credentials_is_one_line(env):
    proc = ticklake(
        {**env, "TICKLAKE_LAKE_URL": "s3://ticks"}, "materialize", "EURUSD", WEEKDAY, "--dry-run", check=False
    )
    assert_one_line_error(proc, "Lake credentials missing: set R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY")


def test_materialize_against_the_moto_s3_server(env, s3_endpoint, s3_bucket, database_url, tmp_path):
    env = {
        **env,
        "TICKLAKE_LAKE_URL": f"s3://{s3_bucket}/prod",
        "R2_ENDPOINT": s3_endpoint,
        "R2_ACCESS_KEY_ID": "id",
        "R2_SECRET_ACCESS_KEY": "secret",
        "R2_REGION": "us-east-1",
    }
    ticklake(env, "seed-demo", "--symbols", "BTC-USD", "--days", "1", "--end", "2025-11-16", "--rate", "0.2")
    out = ticklake(env, "materialize", "BTC-USD", "2025-11-16").stdout  # crypto trades on Sunday
    assert "built 288 candles" in out
    assert len(fetch_candles(DatabaseResource(url=database_url, home=str(tmp_path)), symbol="BTC-USD")) == 288
