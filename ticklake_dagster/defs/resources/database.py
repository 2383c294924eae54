"""PostgreSQL/TimescaleDB for candles: DATABASE_URL, or an embedded PostgreSQL under $TICKLAKE_HOME/pg."""

import contextlib
from collections.abc import Iterator

import dagster as dg
import psycopg2
from pydantic import Field

from ticklake_dagster.candles.database import Database, forget_migrations
from ticklake_dagster.candles.migrations import MigrationReport

__all__ = ["DatabaseResource", "forget_migrations"]


class DatabaseResource(dg.ConfigurableResource):
    """Where candles live; migrations are applied on first use. The work is `postgres.Database`'s."""

    url: str | None = Field(default=None, description="DATABASE_URL; unset = embedded PostgreSQL")
    home: str = Field(description="TICKLAKE_HOME, for the embedded server's data folder")
    connect_timeout: int = 10

    @classmethod
    def from_env(cls) -> "DatabaseResource":
        plain = Database.from_env()
        url = dg.EnvVar("DATABASE_URL") if plain.url else None
        return cls(url=url, home=plain.home)

    def database(self) -> Database:
        url = self.url.get_value() if isinstance(self.url, dg.EnvVar) else self.url
        return Database(url=url, home=self.home, connect_timeout=self.connect_timeout)

    def resolved_url(self) -> str:
        return self.database().resolved_url()

    def describe(self) -> str:
        return self.database().describe()

    @contextlib.contextmanager
    def connect(self) -> Iterator["psycopg2.extensions.connection"]:
        with self.database().connect() as conn:
            yield conn

    def migrate(self) -> MigrationReport:
        return self.database().migrate()

    def ensure_schema(self) -> str:
        return self.database().ensure_schema()
