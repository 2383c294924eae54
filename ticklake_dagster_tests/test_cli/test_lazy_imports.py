"""`ticklake --help` and every `<command> --help` load no heavy library: commands import those inside run().

Commands that need no Dagster instance (materialize without one, import, serve, lake stats, ingest) never load Dagster.
"""

import os
import subprocess
import sys

import httpx
import pytest

from ticklake_dagster.commands import cli
from ticklake_dagster_tests.servers import free_port, wait_for_port

HEAVY = ("dagster", "pandas", "pyarrow", "numpy", "boto3", "psycopg2", "fastapi", "uvicorn", "sqlalchemy")

# In a fresh interpreter: build the parser, ask every command for its help, then name the heavy modules loaded.
PROBE = f"""
import contextlib, io, sys
from ticklake_dagster.commands import cli
parser = cli.build_parser(cli.command_modules())
for argv in [["--help"], *[[name, "--help"] for name in cli.COMMANDS]]:
    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):
        parser.parse_args(argv)
print(",".join(sorted({{m.split(".")[0] for m in sys.modules}} & set({HEAVY!r}))))
"""


def run_python(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


def test_building_the_parser_and_every_help_imports_no_heavy_module():
    proc = run_python("-c", PROBE)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"heavy modules imported for --help: {proc.stdout.strip()}"


def test_the_probe_would_notice_a_heavy_import():
    proc = run_python("-c", "import ticklake_dagster.ticks.compaction\n" + PROBE)
    assert "pandas" in proc.stdout.split(",")


def test_help_lists_every_command_with_its_one_line_description():
    out = run_python("-m", "ticklake_dagster.commands.cli", "--help").stdout
    for name, module in cli.command_modules().items():
        summary = module.__doc__.strip().splitlines()[0]
        assert name in out and summary[:40] in " ".join(out.split()), name
    for name in cli.COMMANDS:
        proc = run_python("-m", "ticklake_dagster.commands.cli", name, "--help")
        assert proc.returncode == 0 and f"usage: ticklake {name}" in proc.stdout, proc.stderr


def imported_packages(importtime_log: str) -> set[str]:
    """The top-level packages a `python -X importtime` run imported, read from its stderr."""
    names = set()
    for line in importtime_log.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                names.add(name.split(".")[0])
    return names


DAGSTER = {"dagster", "dagster_aws", "dagster_postgres"}


def assert_no_dagster(importtime_log: str, work: set[str]) -> None:
    imported = imported_packages(importtime_log)
    assert work <= imported  # the log is read right: the work's own libraries are there
    assert not imported & DAGSTER, sorted(imported & DAGSTER)


def test_materialize_without_a_dagster_instance_does_not_import_dagster(env):
    """The CLI reaches the lake and the database through plain code; Dagster only loads to report to an instance."""
    seed = run_python_env(
        env,
        "-m",
        "ticklake_dagster.commands.cli",
        "seed-demo",
        "--symbols",
        "EURUSD",
        "--days",
        "1",
        "--end",
        "2025-11-13",
        "--rate",
        "0.2",
    )
    assert seed.returncode == 0, seed.stderr
    proc = run_python_env(
        env, "-X", "importtime", "-m", "ticklake_dagster.commands.cli", "materialize", "EURUSD", "2025-11-13"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "EURUSD 2025-11-13: 288 rows inserted" in proc.stdout
    assert "Reported" not in proc.stdout
    assert_no_dagster(proc.stderr, {"pandas", "pyarrow", "psycopg2"})


def run_python_env(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**env, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


@pytest.mark.parametrize(
    "argv, output, work",
    [
        (
            ["import", "dukascopy", "EURUSD", "2019-01-01", "--url", "http://127.0.0.1:9/v1", "--dry-run"],
            "dry run: 1 days, 24 requests; nothing fetched or written",
            {"numpy"},
        ),
        (["lake", "stats"], "Monthly estimate", {"psycopg2"}),
    ],
    ids=["import-dukascopy", "lake-stats"],
)
def test_commands_read_their_configuration_without_dagster(env, argv, output, work):
    """Settings, lake and database come from plain code (`DukascopyConfig`, `LakeConfig`, `Database`)."""
    proc = run_python_env(env, "-X", "importtime", "-m", "ticklake_dagster.commands.cli", *argv)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert output in proc.stdout
    assert_no_dagster(proc.stderr, work)


def test_serve_answers_without_importing_dagster(env, tmp_path):
    port = free_port()
    with open(tmp_path / "out", "w+") as out, open(tmp_path / "err", "w+") as err:
        proc = subprocess.Popen(
            [sys.executable, "-X", "importtime", "-m", "ticklake_dagster.commands.cli", "serve", "--port", str(port)],
            stdout=out,
            stderr=err,  # a file, not a pipe: the import log alone would fill a pipe before the port opens
            text=True,
            env={**env, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        try:
            wait_for_port(port, proc)
            assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=30).status_code == 200
        finally:
            proc.terminate()
            proc.wait(30)
        out.seek(0), err.seek(0)
        assert f"Candles API and chart on http://127.0.0.1:{port}/ (database " in out.read()
        assert_no_dagster(err.read(), {"uvicorn", "fastapi", "psycopg2"})


def test_ingest_runs_without_importing_dagster(env):
    """The ingester's settings are `IngesterConfig` (plain), not `IngesterResource`: a real run, source stdin."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ticklake_dagster.commands.cli", "ingest", "--source", "jsonl:-"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert '"msg": "Ingester stopped"' in proc.stderr  # it ran: spool opened, the source read to its end
    assert_no_dagster(proc.stderr, {"pydantic", "pyarrow", "prometheus_client"})
