"""Operating the ingester: where /metrics listens, a busy port, stale temp files, a lake that never comes back."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from ticklake_dagster.core.errors import InvalidInput
from ticklake_dagster.defs.resources import IngesterResource, LakeResource
from ticklake_dagster.sources.ingest.service import IngestService
from ticklake_dagster.sources.ingest.sources import JsonlSource
from ticklake_dagster_tests.test_ingest.conftest import (
    Running,
    lake_ticks,
    make_config,
    messages,
    run_to_end,
    spool_segments,
    tick_rows,
    write_jsonl,
)
from ticklake_dagster_tests.test_ingest.test_service import START, expected_rows, good_ticks


def ingest_cli(env: dict, *args, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ticklake_dagster.commands.cli", "ingest", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_metrics_listen_on_loopback_unless_told_otherwise(tmp_path, file_lake_resource, monkeypatch):
    running = Running(
        IngestService(make_config(tmp_path, file_lake_resource), [], handle_signals=False, metrics_port=0)
    )
    try:
        assert running.service.metrics_address[0] == "127.0.0.1"
    finally:
        running.stop()
    monkeypatch.setenv("TICKLAKE_HOME", str(tmp_path))
    monkeypatch.setenv("TICKLAKE_INGEST_METRICS_HOST", "0.0.0.0")
    monkeypatch.setenv("TICKLAKE_INGEST_METRICS_PORT", "9108")
    config = IngesterResource.from_env(lake=file_lake_resource)
    assert (config.metrics_host, config.metrics_port) == ("0.0.0.0", 9108)
    assert IngesterResource.from_env(lake=file_lake_resource, metrics_host="::1").metrics_host == "::1"
    monkeypatch.delenv("TICKLAKE_INGEST_METRICS_HOST")
    assert IngesterResource.from_env(lake=file_lake_resource).metrics_host == "127.0.0.1"
    monkeypatch.setenv("TICKLAKE_INGEST_METRICS_PORT", "http")
    with pytest.raises(InvalidInput, match="TICKLAKE_INGEST_METRICS_PORT"):
        IngesterResource.from_env(lake=file_lake_resource)


def test_a_metrics_port_in_use_is_a_one_line_error(tmp_path, cli_env):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = ingest_cli(cli_env, "--metrics-port", str(port))
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: Cannot serve metrics on 127.0.0.1:{port}: ") and "in use" in last, out.stderr
    assert "unexpected" not in out.stderr and "Traceback" not in out.stderr


def test_a_temp_file_left_by_kill_9_mid_write_is_removed_at_the_next_start(tmp_path, file_lake_resource, ingest_logs):
    root = file_lake_resource.get_lake().root
    killed_mid_write = (
        "import os, signal\n"
        "from ticklake_dagster.lake.storage import FileLake\n"
        "os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)  # the data is written, the rename never happens\n"
        f"FileLake({str(root)!r}).put('ticks/EURUSD/2025/11/13/part-1.parquet', b'half a part')\n"
    )
    assert subprocess.run([sys.executable, "-c", killed_mid_write], timeout=60).returncode == -9
    [left] = [p for p in root.rglob(".tmp-*") if p.is_file()]
    old = time.time() - 3600
    os.utime(left, (old, old))
    live = left.parent / ".tmp-another-writer-at-work"
    live.write_bytes(b"")
    run_to_end(make_config(tmp_path, file_lake_resource), [])
    assert [p for p in root.rglob(".tmp-*") if p.is_file()] == [live]
    assert messages(ingest_logs, "Removed stale temporary files from the lake")[0]["files"] == 1
    assert list(file_lake_resource.get_lake().list("")) == []


def test_a_finite_ingest_gives_up_on_a_dead_lake_and_keeps_the_spool(tmp_path, file_lake_resource, ingest_logs):
    (tmp_path / "not-a-folder").write_text("a file where the lake's folder should be")
    dead = LakeResource(url=f"file://{tmp_path / 'not-a-folder'}")
    ticks = good_ticks(120)
    source = JsonlSource(str(write_jsonl(tmp_path / "t.jsonl", ticks)))
    service = IngestService(
        make_config(tmp_path, dead, batch_size=50, give_up_seconds=0.5), [source], handle_signals=False
    )
    started = time.monotonic()
    assert Running(service).join(30) == 1
    assert time.monotonic() - started < 15
    gave_up = [r for r in ingest_logs.records if r.getMessage().startswith("Giving up")]
    assert len(gave_up) == 1 and gave_up[0].levelname == "ERROR"
    assert gave_up[0].fields["ticks"] == 120 and gave_up[0].fields["give_up_seconds"] == 0.5
    assert spool_segments(tmp_path / "home")  # every accepted tick kept for the next start
    run_to_end(make_config(tmp_path, file_lake_resource), [])
    assert tick_rows(lake_ticks(file_lake_resource.get_lake())) == expected_rows(ticks)


def test_give_up_deadline_from_the_command_line(tmp_path, cli_env):
    (tmp_path / "not-a-folder").write_text("")
    env = {**cli_env, "TICKLAKE_LAKE_URL": f"file://{tmp_path / 'not-a-folder'}"}
    source = write_jsonl(tmp_path / "t.jsonl", good_ticks(10))
    out = ingest_cli(env, "--source", f"jsonl:{source}", "--give-up-after", "0.5")
    assert out.returncode == 1
    lines = [json.loads(line) for line in out.stderr.splitlines() if line.startswith("{")]
    assert [line["msg"] for line in lines if line["level"] == "error"] == [
        "Giving up: the lake took no part; the spool keeps every accepted tick for the next start"
    ]


def open_for_writing(fifo, timeout: float = 30.0) -> int:
    """The write end of a named pipe, once the ingester opened its read end (never blocks the test forever)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader yet
            assert time.monotonic() < deadline, "the ingester never opened the pipe"
            time.sleep(0.02)
            continue
        os.set_blocking(fd, True)
        return fd


def test_jsonl_reads_a_named_pipe_process_substitution_and_dev_null(tmp_path, cli_env):
    ticks = good_ticks(30)
    lines = "".join(json.dumps(t) + "\n" for t in ticks).encode()
    fifo = tmp_path / "ticks.fifo"
    os.mkfifo(fifo)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ticklake_dagster.commands.cli", "ingest", "--source", f"jsonl:{fifo}"],
        env=cli_env,
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        fd = open_for_writing(fifo)
        os.write(fd, lines)
        os.close(fd)
        assert proc.wait(60) == 0, proc.stderr.read()
    finally:
        proc.kill()
        proc.stderr.close()
    lake = LakeResource(url=f"file://{tmp_path / 'home' / 'lake'}").get_lake()
    assert tick_rows(lake_ticks(lake)) == expected_rows(ticks)

    source = write_jsonl(tmp_path / "more.jsonl", good_ticks(5, start=START + 100_000))
    substituted = subprocess.run(
        [
            "bash",
            "-c",
            f'exec "{sys.executable}" -m ticklake_dagster.commands.cli ingest --source "jsonl:"<(cat "{source}")',
        ],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert substituted.returncode == 0, substituted.stderr
    assert len(lake_ticks(lake)) == 35
    assert ingest_cli(cli_env, "--source", "jsonl:/dev/null").returncode == 0


def test_jsonl_refuses_only_what_cannot_be_opened_with_the_reason(tmp_path):
    from ticklake_dagster.sources.ingest.sources import parse_source

    for path, reason in [(tmp_path / "missing.jsonl", "No such file or directory"), (tmp_path, "is a directory")]:
        with pytest.raises(InvalidInput, match=f"^Source jsonl:{path}: {reason}$"):
            parse_source(f"jsonl:{path}")
    for path in ("/dev/null", "/dev/stdin", "-"):
        assert parse_source(f"jsonl:{path}").describe() == f"jsonl:{path}"
