"""Writers of the same symbol-day at once (UI, sensor, schedule, a user's CLI) serialise and all succeed."""

import os
import subprocess
import sys
import threading
import time

import pandas as pd

from ticklake_dagster.candles.building import build_candles
from ticklake_dagster.candles.sql import window_lock_key, write_day, write_window
from ticklake_dagster.core.days import day_window
from ticklake_dagster_tests.factories import DAY, fetch_candles, random_ticks, write_parquet_parts


def test_a_second_writer_waits_for_the_first_and_both_commit(database):
    """Writer A holds its transaction open with the day written; B starts then. Before the lock, B's
    INSERT waited on A's rows and failed with UniqueViolation once A committed."""
    flavor = database.ensure_schema()
    first = build_candles(random_ticks(1).sort_values("ts_ms", kind="stable"))
    second = build_candles(random_ticks(2).sort_values("ts_ms", kind="stable"))
    start, end = day_window(DAY)
    outcome: dict = {}
    with database.connect() as conn_a, database.connect() as conn_b:
        cur = conn_a.cursor()
        write_window(cur, flavor, "EURUSD", start, end, first)  # A: written, not committed

        def writer_b():
            try:
                outcome["stats"] = write_day(conn_b, flavor, "EURUSD", DAY, second)
            except Exception as e:  # recorded for the assertion below
                outcome["error"] = e

        b = threading.Thread(target=writer_b)
        b.start()
        b.join(1.0)
        assert b.is_alive(), "B did not wait for A's transaction"
        conn_a.commit()
        b.join(30)
        assert not b.is_alive()
    assert "error" not in outcome, repr(outcome.get("error"))
    assert outcome["stats"].removed + outcome["stats"].updated == len(first)  # B replaced what A wrote
    got = fetch_candles(database)
    assert got["trades"].tolist() == second["trades"].tolist()
    assert len(fetch_candles(database, "candles_12h")) == 2


def test_two_materialize_commands_over_the_same_days_both_succeed(database_url, tmp_path):
    """Two real `ticklake materialize` processes over the same five days, started together."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TICKLAKE_", "R2_", "DATABASE_URL"))}
    env.update(
        TICKLAKE_HOME=str(tmp_path / "home"), DATABASE_URL=database_url, TICKLAKE_LAKE_URL=f"file://{tmp_path / 'lake'}"
    )
    from ticklake_dagster.defs.resources import DatabaseResource, LakeResource

    lake = LakeResource(url=env["TICKLAKE_LAKE_URL"]).get_lake()
    days = [DAY + pd.Timedelta(days=i).to_pytimedelta() for i in range(5)]
    for i, day in enumerate(days):
        write_parquet_parts(lake, "EURUSD", random_ticks(i + 1, day=day, n=3000), parts=2, day=day)
    DatabaseResource(url=database_url, home=str(tmp_path)).ensure_schema()  # both find the schema in place
    span = f"{days[0]}:{days[-1]}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "ticklake_dagster.commands.cli", "materialize", "EURUSD", span],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    deadline = time.monotonic() + 240
    outputs = [p.communicate(timeout=max(1, deadline - time.monotonic()))[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    got = fetch_candles(DatabaseResource(url=database_url, home=str(tmp_path)))
    assert got["time"].is_unique and len(got) == 5 * 288


class RecordingCursor:
    """A cursor that remembers each statement it ran with its parameters, in order."""

    def __init__(self, cur):
        self._cur, self.statements = cur, []

    def execute(self, sql, params=None):
        self.statements.append((sql, params))
        return self._cur.execute(sql, params)

    def __getattr__(self, name):
        return getattr(self._cur, name)


def test_the_window_lock_runs_on_timescaledb(timescale_database):
    """PGlite serves one session at a time (and shows no pg_locks), so two writers cannot overlap there: this
    checks that a TimescaleDB write takes the symbol-day's advisory lock before it touches a row, and that a
    rewrite of the same day updates it."""
    flavor = timescale_database.ensure_schema()
    candles = build_candles(random_ticks(3).sort_values("ts_ms", kind="stable"))
    start, end = day_window(DAY)
    with timescale_database.connect() as conn:
        with conn, conn.cursor() as raw:
            cur = RecordingCursor(raw)
            first = write_window(cur, flavor, "EURUSD", start, end, candles)
        again = write_day(conn, flavor, "EURUSD", DAY, candles)
    first_sql, first_params = cur.statements[0]
    assert "pg_advisory_xact_lock" in first_sql and first_params == (window_lock_key("EURUSD", DAY),)
    assert first.inserted == len(candles) and again.updated == len(candles)
