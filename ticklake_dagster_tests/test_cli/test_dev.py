"""`ticklake dev` logs nothing alarming on the demo, stops everything it started on Ctrl-C and SIGTERM, and leaves
the embedded PostgreSQL usable.

One real `dagster dev` start (about 20 CPU-seconds: five processes import Dagster); the signal handling for every
way a stop arrives is tested on a stubborn process tree under the same supervisor.
"""

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request

import psutil
import psycopg2
import pytest

from ticklake_dagster.candles.database import embedded_server_uri, stop_embedded_server
from ticklake_dagster_tests import servers

STOP_WITHIN_SECONDS = 10


def clean_env(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TICKLAKE_", "R2_", "DATABASE_URL", "DAGSTER_"))}
    return {**env, **extra}


def descendants(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def wait_until(condition, timeout: float, what: str, proc: subprocess.Popen, log) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"ticklake dev exited {proc.returncode} before {what}:\n{log.read_text()[-3000:]}")
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"no {what} within {timeout}s:\n{log.read_text()[-3000:]}")


def ui_answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def all_services_up(pid: int) -> bool:
    """dagster dev, the webserver, the daemon and a code server are all running."""
    cmdlines = " ".join(" ".join(p.cmdline()) for p in descendants(pid) if p.is_running())
    return all(part in cmdlines for part in (" dev -m ", "dagster_webserver", "dagster._daemon", "api grpc"))


def start_dev(home, log) -> subprocess.Popen:
    """`ticklake dev` as a terminal would run it: its own session and process group, SIGINT not ignored."""
    port = servers.free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ticklake_dagster.commands.cli", "dev", "--port", str(port)],
        env=clean_env(TICKLAKE_HOME=str(home)),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_until(lambda: ui_answers(port), 240, "UI on 127.0.0.1", proc, log)
    wait_until(lambda: all_services_up(proc.pid), 120, "webserver, daemon and code server", proc, log)
    return proc


def still_running(p: psutil.Process) -> bool:
    """A zombie has exited (a killed run worker whose reaper is itself going away): only its pid is left."""
    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def assert_everything_stops(proc: subprocess.Popen, send, log) -> None:
    started = descendants(proc.pid)[1:]  # the root is ours to reap, through Popen
    t0 = time.monotonic()
    send()
    try:
        code = proc.wait(timeout=STOP_WITHIN_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(
            f"ticklake dev still running {STOP_WITHIN_SECONDS}s after the signal:\n{log.read_text()[-3000:]}"
        ) from None
    _, alive = psutil.wait_procs(started, timeout=max(0.1, STOP_WITHIN_SECONDS - (time.monotonic() - t0)))
    running = [p for p in alive if still_running(p)]
    assert not running, f"still running after the signal: {[' '.join(p.cmdline())[:120] for p in running]}"
    assert code == 0, log.read_text()[-3000:]
    assert "Dagster stopped" in log.read_text()


def assert_embedded_postgres_answers(home) -> None:
    conn = psycopg2.connect(embedded_server_uri(home / "pg", database="dagster"))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM runs")  # Dagster's own storage, intact
            assert cur.fetchone()[0] >= 0
    finally:
        conn.close()


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "home"
    yield home
    stop_embedded_server(home / "pg")


def warnings_in(text: str) -> list[str]:
    """Lines a newcomer reads as something wrong: Dagster's WARNING/ERROR log lines and Python warnings."""
    return [line for line in text.splitlines() if re.search(r" - (WARNING|ERROR) - |Warning: |Traceback", line)]


def test_ctrl_c_stops_everything_and_a_stopped_postgres_starts_again(home, tmp_path):
    """SIGTERM to the supervisor alone takes the same path (test_supervisor_kills_a_tree_that_ignores_signals...)."""
    env = clean_env(TICKLAKE_HOME=str(home))
    # the demo's first minute: seeded days (no ingester), the sensors' first ticks, the runs they launch
    for args in (["seed-demo", "--days", "2", "--rate", "0.02"], ["dev", "--setup-only"]):
        done = subprocess.run(
            [sys.executable, "-m", "ticklake_dagster.commands.cli", *args], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
    stop_embedded_server(home / "pg")  # the start must bring a stopped server back up
    log = tmp_path / "dev.log"
    proc = start_dev(home, log)
    # the sensors' first ticks and a run they launched (a stale-feed check is test_feed_freshness's)
    wait_until(lambda: "lake_sensor - listed" in log.read_text(), 120, "the lake sensor's first tick", proc, log)
    wait_until(lambda: " candles, " in log.read_text(), 120, "a run writing candles", proc, log)
    assert warnings_in(log.read_text()) == []
    assert_everything_stops(proc, lambda: os.killpg(proc.pid, signal.SIGINT), log)  # Ctrl-C: the whole group
    assert_embedded_postgres_answers(home)


SUPERVISED = textwrap.dedent(
    """
    import signal, subprocess, sys
    from ticklake_dagster.commands.process_group import run_supervised

    # A tree that ignores every polite signal: a child, its grandchild, and one that left the process group.
    stubborn = "import signal, time; [signal.signal(s, signal.SIG_IGN) for s in (2, 15)]; time.sleep(600)"
    tree = (
        "import signal, subprocess, sys, time; [signal.signal(s, signal.SIG_IGN) for s in (2, 15)];"
        f"subprocess.Popen([sys.executable, '-c', {stubborn!r}]);"
        f"subprocess.Popen([sys.executable, '-c', {stubborn!r}], start_new_session=True);"
        "print('up', flush=True); time.sleep(600)"
    )
    sys.exit(run_supervised([sys.executable, "-c", tree], grace_seconds=1.0, kill_seconds=2.0))
    """
)


def ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize(
    "to_group,started_with_ampersand",
    [(True, False), (True, True), (False, False)],
    ids=["sigint-to-group", "sigint-inherited-as-ignored", "sigterm-to-process"],
)
def test_supervisor_kills_a_tree_that_ignores_signals_at_the_deadline(to_group, started_with_ampersand):
    """A shell script's `cmd &` starts cmd with SIGINT ignored; an explicit SIGINT must still stop it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SUPERVISED],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env=clean_env(PYTHONPATH=os.pathsep.join(sys.path)),
        preexec_fn=ignore_sigint if started_with_ampersand else None,
    )
    assert proc.stdout.readline().strip() == "up"
    deadline = time.monotonic() + 10
    while len(descendants(proc.pid)) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    started = descendants(proc.pid)
    assert len(started) == 4
    if to_group:
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(started, timeout=5)
    assert not alive
    _, stderr = proc.communicate(timeout=1)
    assert proc.returncode == 0
    assert "killing 3 process(es) that did not stop in time" in stderr, stderr
