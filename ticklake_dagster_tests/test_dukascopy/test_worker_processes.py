"""Days decoded and encoded in worker processes: the same exact days, retries, failures and interrupts as in-process."""

import datetime as dt
import multiprocessing
import os
import signal
import subprocess
import sys
import time

import pytest

from ticklake_dagster.lake.storage import FileLake
from ticklake_dagster.sources.dukascopy.importer import IMPORTED, PROCESS_MIN_DAYS, Importer, dukascopy_part_key
from ticklake_dagster_tests.servers import terminal_sigint
from ticklake_dagster_tests.test_dukascopy.conftest import assert_same_ticks, expected_day, stored_day
from ticklake_dagster_tests.test_dukascopy.test_cli import ticklake
from ticklake_dagster_tests.test_dukascopy.test_importer import DAYS, FAST, hour_path, run_import


def test_days_encoded_in_worker_processes_are_exact_on_file_and_s3_lakes(lake_resource, mirror):
    _, bi5, _ = mirror
    lake = lake_resource.get_lake()
    summary = run_import(lake, bi5, ["EURUSD", "XAUUSD"], processes=2)
    assert summary.count(IMPORTED) == 2 * len(DAYS) and not summary.failed
    for name in ("EURUSD", "XAUUSD"):
        for day in DAYS:
            assert_same_ticks(stored_day(lake, name, day), expected_day(name, day))
    saturday = [o for o in summary.outcomes if o.symbol == "EURUSD" and o.day == dt.date(2019, 1, 5)][0]
    assert saturday.ticks == 0 and saturday.empty_hours == 24
    assert not multiprocessing.active_children()  # the workers end with the import


def test_a_body_truncated_once_is_fetched_again_and_the_day_completes(file_lake_resource, mirror):
    m, bi5, _ = mirror
    lake = file_lake_resource.get_lake()
    bad = hour_path("EURUSD", DAYS[0], 7)
    full = m.answer(bad)[2]
    m.fault = lambda path, nth: (200, {}, full[:100]) if path == bad and nth == 2 else None  # nth 1 was the line above
    summary = run_import(lake, bi5, ["EURUSD"], days=DAYS[:2], processes=2)
    assert summary.count(IMPORTED) == 2 and m.requests[bad] == 3
    assert [o.retries for o in summary.outcomes if o.day == DAYS[0]] == [1]
    assert_same_ticks(stored_day(lake, "EURUSD", DAYS[0]), expected_day("EURUSD", DAYS[0]))


def test_an_undecodable_hour_fails_its_day_naming_the_url_while_other_days_go_on(file_lake_resource, mirror):
    m, bi5, json_url = mirror
    lake = file_lake_resource.get_lake()
    bad = "/v1/ticks/EUR-USD/2019/1/4/9"
    m.fault = lambda path, nth: (200, {}, b'{"timestamp": 1, "times": [1, 2]') if path == bad else None
    summary = run_import(lake, json_url, ["EURUSD"], feed="json", processes=2)
    [failed] = summary.failed
    assert failed.day == DAYS[1] and failed.reason.startswith(
        f"{json_url}/ticks/EUR-USD/2019/1/4/9: undecodable body after 3 attempts (JSON"
    )
    assert m.requests[bad] == FAST.decode_attempts
    assert not lake.exists(dukascopy_part_key("EURUSD", DAYS[1]))
    assert summary.count(IMPORTED) == len(DAYS) - 1


def test_an_interrupt_finishes_started_writes_and_leaves_no_partial_day(file_lake_resource, mirror):
    m, bi5, _ = mirror
    lake = file_lake_resource.get_lake()
    m.fault = lambda path, nth: time.sleep(0.01)
    reported = []

    def interrupt_after_first(outcome):
        reported.append(outcome)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_import(
            lake,
            bi5,
            ["EURUSD"],
            days=DAYS + [d + dt.timedelta(days=7) for d in DAYS],
            processes=2,
            on_day=interrupt_after_first,
        )
    written = [o.key for o in lake.list("ticks/EURUSD/")]
    assert 1 <= len(written) < 10 and {o.key for o in reported if o.status == IMPORTED} <= set(written)
    for key in written:
        day = dt.date.fromisoformat(key.split("/", 2)[2][:10].replace("/", "-"))
        assert_same_ticks(stored_day(lake, "EURUSD", day), expected_day("EURUSD", day))
    assert not multiprocessing.active_children()


def test_ctrl_c_to_the_whole_process_group_stops_cleanly_and_the_rerun_completes(env, mirror, tmp_path):
    """A terminal's Ctrl-C reaches the worker processes too: they ignore it, the importer stops them."""
    m, bi5, _ = mirror
    m.fault = lambda path, nth: time.sleep(0.02)
    days = "2019-01-07:2019-01-18"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ticklake_dagster.commands.cli",
            "import",
            "dukascopy",
            "EURUSD",
            days,
            "--url",
            bi5,
            "--feed",
            "bi5",
            "--concurrency",
            "4",
            "--processes",
            "2",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=terminal_sigint,
    )
    lake = FileLake(tmp_path / "home" / "lake")
    deadline = time.monotonic() + 60
    while not list(lake.list("ticks/EURUSD/")) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted: every day written is whole" in err and "Traceback" not in err
    written = [o.key for o in lake.list("ticks/EURUSD/")]
    assert 1 <= len(written) < 12
    for i in range(12):
        day = dt.date(2019, 1, 7) + dt.timedelta(days=i)
        if lake.exists(dukascopy_part_key("EURUSD", day)):
            assert_same_ticks(stored_day(lake, "EURUSD", day), expected_day("EURUSD", day))
    assert not [p for p in (tmp_path / "home" / "lake").rglob(".tmp-*")]
    m.fault = None
    rerun = ticklake(env, "import", "dukascopy", "EURUSD", days, "--url", bi5, "--feed", "bi5", "--processes", "2")
    assert (
        rerun.returncode == 0 and f"{12 - len(written)} days imported, {len(written)} already imported" in rerun.stdout
    )


def test_worker_processes_start_only_for_long_imports_on_several_cores():
    importer = Importer(None, None, 8)
    cores = os.cpu_count() or 1
    assert importer._worker_processes(PROCESS_MIN_DAYS - 1) == 0
    assert importer._worker_processes(PROCESS_MIN_DAYS) == (cores if cores > 1 else 0)
    assert Importer(None, None, 8, processes=0)._worker_processes(10_000) == 0
