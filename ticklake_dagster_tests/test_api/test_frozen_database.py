"""Fault injection: the database stops answering (SIGSTOP, as a stalled network or a paused VM looks).

A PostgreSQL of this test's own is frozen, never the session's shared one, and always thawed again.
"""

import concurrent.futures
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from ticklake_dagster.candles.building import build_candles
from ticklake_dagster.defs.resources import DatabaseResource
from ticklake_dagster_tests import servers
from ticklake_dagster_tests.factories import DAY, random_ticks

REQUESTS = 12
ANSWER_WITHIN_S = 12.0  # the API's request deadline is 5 s; generous for a loaded 2-core machine


def server_pids(pgdata: Path) -> list[int]:
    """The postmaster and every backend/auxiliary process it forked."""
    postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
    pids = [postmaster]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == postmaster:
                    pids.append(int(entry.name))
    return pids


def signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def get(url: str) -> tuple[int, float]:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=ANSWER_WITHIN_S + 30) as response:
            return response.status, time.monotonic() - started
    except urllib.error.HTTPError as e:
        return e.code, time.monotonic() - started
    except OSError:
        return -1, time.monotonic() - started  # no answer at all


def test_a_frozen_database_gets_503_within_seconds_and_the_api_recovers(tmp_path):
    pgdata = tmp_path / "pg"
    with servers.own_embedded_postgres(pgdata) as url:
        database = DatabaseResource(url=servers.with_database(url, "postgres"), home=str(tmp_path))
        flavor = database.ensure_schema()
        from ticklake_dagster.candles.sql import write_day

        with database.connect() as conn:
            write_day(conn, flavor, "EURUSD", DAY, build_candles(random_ticks(1).sort_values("ts_ms", kind="stable")))
        port = servers.free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TICKLAKE_", "DATABASE_URL"))}
        api = subprocess.Popen(
            [sys.executable, "-m", "ticklake_dagster.commands.cli", "serve", "--port", str(port)],
            env={**env, "DATABASE_URL": database.url, "TICKLAKE_HOME": str(tmp_path / "home")},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        candles = f"{base}/api/candles?symbol=EURUSD&timeframe=1h&from=1763000000&to=1763100000"
        pids = []
        try:
            servers.wait_for_port(port, api)
            assert get(candles)[0] == 200 and get(f"{base}/health")[0] == 200  # the pool is open and warm
            pids = server_pids(pgdata)
            signal_all(pids, signal.SIGSTOP)
            urls = [candles, f"{base}/health", f"{base}/api/symbols", f"{base}/api/metadata?symbol=EURUSD"] * 3
            with concurrent.futures.ThreadPoolExecutor(REQUESTS) as pool:
                answers = list(pool.map(get, urls[:REQUESTS]))
            assert [status for status, _ in answers] == [503] * REQUESTS, answers
            assert max(took for _, took in answers) < ANSWER_WITHIN_S, answers
            signal_all(pids, signal.SIGCONT)
            deadline = time.monotonic() + 30
            while get(candles)[0] != 200:
                assert time.monotonic() < deadline, "the API did not serve again after the database thawed"
                time.sleep(0.5)
            assert get(f"{base}/health")[0] == 200
        finally:
            signal_all(pids, signal.SIGCONT)
            api.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                api.wait(15)
            if api.poll() is None:
                api.kill()
