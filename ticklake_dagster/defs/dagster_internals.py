"""The one module that uses Dagster's private names: the run tags of a ranged run, and the pooled event log.

Dagster exports no public name for the tags that carry a run's partition or partition range (a ranged
backfill run is recognised by them), nor a public base for an event log storage; both are imported here
and nowhere else, so a Dagster upgrade that moves them breaks this file only.

Dagster's PostgreSQL event log, with warm connections and the run's planned events written in one go:

Dagster's own `PostgresEventLogStorage` opens a new connection for every statement outside the webserver,
so each event costs two fresh server backends (~17 ms here). A backfill run of 183 days writes ~370
"materialization planned" events while the daemon creates it, and a run writes one event per day and
asset, so those connections were most of the daemon's work. This class changes only how the same rows
are written:

- it keeps a small pool of connections (as Dagster's webserver already does), dropped after a fork;
- with `DAGSTER_EVENT_BATCH_SIZE` set (`instance.prepare_dagster_env` sets it), the planned events of a
  run, which Dagster already hands over as one batch, go in one INSERT and one index transaction.
"""

import os
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as db
from dagster import DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorageTable
from dagster._core.storage.tags import (  # noqa: F401 (re-exported for partitions.py)
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)
from dagster._serdes import ConfigurableClassData
from dagster_postgres.event_log.event_log import PostgresEventLogStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config

PLANNED = frozenset({DagsterEventType.ASSET_MATERIALIZATION_PLANNED, DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED})
POOL_SIZE = 1
MAX_OVERFLOW = 8
POOL_RECYCLE_SECONDS = 3600


def forget_connections(engine: db.engine.Engine | None) -> None:
    if engine is not None:
        engine.dispose(close=False)


def pooled_engine(postgres_url: str, token_provider: Any = None) -> db.engine.Engine:
    """An AUTOCOMMIT engine holding one idle connection, checked before use, never shared with a forked child."""
    engine = create_pg_engine(
        postgres_url,
        token_provider,
        isolation_level="AUTOCOMMIT",
        pool_size=POOL_SIZE,
        max_overflow=MAX_OVERFLOW,
        pool_recycle=POOL_RECYCLE_SECONDS,
        pool_pre_ping=True,
    )
    # SQLAlchemy's advice for os.fork(): the child forgets, without closing, the parent's connections.
    engine_ref = weakref.ref(engine)
    os.register_at_fork(after_in_child=lambda: forget_connections(engine_ref()))
    return engine


class PooledPostgresEventLogStorage(PostgresEventLogStorage):
    """`PostgresEventLogStorage` with pooled connections and one-statement batches of planned events."""

    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: ConfigurableClassData | None = None,
        token_provider: Any = None,
    ) -> None:
        super().__init__(postgres_url, should_autocreate_tables, inst_data, token_provider)
        self._engine = pooled_engine(self.postgres_url, token_provider)

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> "PooledPostgresEventLogStorage":
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        if not events or any(e.dagster_event_type not in PLANNED for e in events):
            super().store_event_batch(events)
            return
        with self._connect() as conn:
            result = conn.execute(self.prepare_insert_event_batch(events).returning(SqlEventLogStorageTable.c.id))
            ids = [int(row[0]) for row in result.fetchall()]
        planned = [
            (e, i)
            for e, i in zip(events, ids)
            if e.dagster_event_type == DagsterEventType.ASSET_MATERIALIZATION_PLANNED
        ]
        if planned:
            # The asset's row keeps only its latest planned event (run id, timestamp): one update per asset.
            latest = {e.get_dagster_event().asset_key: (e, i) for e, i in planned}
            with self.index_transaction() as conn:
                self._store_asset_event_tags(conn, [e for e, _ in planned], [i for _, i in planned])
                for event, event_id in latest.values():
                    self._store_asset_event(conn, event, event_id)
        for event, event_id in zip(events, ids):
            if event.dagster_event_type == DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED:
                self.store_asset_check_event(event, event_id)

    def optimize_for_webserver(self, statement_timeout: int, pool_recycle: int, max_overflow: int) -> None:
        self._engine.dispose()
        super().optimize_for_webserver(statement_timeout, pool_recycle, max_overflow)

    def dispose(self) -> None:
        super().dispose()
        self._engine.dispose()
