"""PostgreSQL/TimescaleDB for candles: DATABASE_URL, or an embedded PostgreSQL under $TICKLAKE_HOME/pg."""

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg2
from pydantic import Field

from ticklake_dagster.errors import DatabaseError
from ticklake_dagster.migrate import MigrationReport, apply_migrations
from ticklake_dagster.postgres import embedded_server_uri
from ticklake_dagster.redaction import describe_database_error, describe_dsn
from ticklake_dagster.settings import ticklake_home

_flavor_by_url: dict[str, str] = {}
_lock = threading.Lock()


def forget_migrations() -> None:
    """Forget which databases this process has migrated (tests that drop and recreate the schema)."""
    with _lock:
        _flavor_by_url.clear()


class DatabaseResource(dg.ConfigurableResource):
    """Where candles live; migrations are applied on first use."""

    url: str | None = Field(default=None, description="DATABASE_URL; unset = embedded PostgreSQL")
    home: str = Field(description="TICKLAKE_HOME, for the embedded server's data folder")
    connect_timeout: int = 10

    @classmethod
    def from_env(cls) -> "DatabaseResource":
        url = dg.EnvVar("DATABASE_URL") if os.environ.get("DATABASE_URL") else None
        return cls(url=url, home=str(ticklake_home()))

    def resolved_url(self) -> str:
        url = self.url.get_value() if isinstance(self.url, dg.EnvVar) else self.url
        return url or embedded_server_uri(Path(self.home) / "pg")

    def describe(self) -> str:
        return describe_dsn(self.resolved_url())

    @contextlib.contextmanager
    def connect(self) -> Iterator["psycopg2.extensions.connection"]:
        """A fresh connection, closed afterwards (TimescaleDB test servers take one at a time)."""
        url = self.resolved_url()
        try:
            conn = psycopg2.connect(url, connect_timeout=self.connect_timeout, application_name="ticklake")
        except psycopg2.Error as e:
            raise DatabaseError(f"Database unreachable at {describe_dsn(url)}: {describe_database_error(e, url)}") from None
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
