"""The pooled, batching event log writes what Dagster's own PostgreSQL event log writes, on fewer connections."""

import collections
import os

import dagster as dg
import psycopg2
import pytest
import sqlalchemy as db
from dagster._core.events import DagsterEventType

from ticklake_dagster.defs.dagster_internals import PooledPostgresEventLogStorage
from ticklake_dagster.defs.instance import STORAGE_CLASSES, psycopg2_url
from ticklake_dagster_tests import servers

RANGE = ("2025-01-01", "2025-01-10")
days_partitions_def = dg.DailyPartitionsDefinition(start_date="2025-01-01", end_date="2025-01-11")


@dg.asset(
    partitions_def=days_partitions_def,
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[dg.AssetCheckSpec("rows", asset="days")],
    config_schema={"fail": bool},
)
def days(context: dg.AssetExecutionContext):
    if context.op_execution_context.op_config["fail"]:
        raise RuntimeError("the day's source is gone")
    return dg.MaterializeResult(
        metadata={"days": len(context.partition_keys)},
        check_results=[dg.AssetCheckResult(check_name="rows", passed=True)],
    )


def storage_overrides(url: str, pooled: bool) -> dict:
    """Dagster's own `storage: postgres:`, or the storage classes `prepare_dagster_env` configures."""
    url = psycopg2_url(url)
    if not pooled:
        return {"storage": {"postgres": {"postgres_url": url}}}
    return {
        section: {"module": module, "class": cls, "config": {"postgres_url": url}}
        for section, module, cls in STORAGE_CLASSES
    }


def ranged_runs(instance: dg.DagsterInstance) -> tuple[list[str], int]:
    """A good and a failing run over RANGE; returns their ids and the connections the event log opened."""
    opened = []
    db.event.listen(instance.event_log_storage._engine, "connect", lambda *_: opened.append(1))
    tags = {"dagster/asset_partition_range_start": RANGE[0], "dagster/asset_partition_range_end": RANGE[1]}
    run_ids = []
    for fail in (False, True):
        result = dg.materialize(
            [days],
            instance=instance,
            tags=tags,
            raise_on_error=False,
            run_config={"ops": {"days": {"config": {"fail": fail}}}},
        )
        assert result.success is not fail
        run_ids.append(result.run_id)
    return run_ids, len(opened)


def what_the_ui_reads(instance: dg.DagsterInstance, run_ids: list[str]) -> dict:
    """Per run: event types; per asset: planned partitions, last run, failed partitions, check history."""
    storage = instance.event_log_storage
    index = {run_id: i for i, run_id in enumerate(run_ids)}
    records = instance.get_event_records(
        dg.EventRecordsFilter(DagsterEventType.ASSET_MATERIALIZATION_PLANNED, asset_key=dg.AssetKey("days"))
    )
    checks = storage.get_asset_check_execution_history(dg.AssetCheckKey(dg.AssetKey("days"), "rows"), limit=10)
    return {
        "events": [
            collections.Counter(e.dagster_event_type for e in instance.all_logs(r) if e.dagster_event_type)
            for r in run_ids
        ],
        "planned": sorted((index[r.run_id], r.partition_key) for r in records),
        "last_run": index[instance.get_asset_records([dg.AssetKey("days")])[0].asset_entry.last_run_id],
        "failed": sorted(
            (k, index[v[0]])
            for k, v in storage.get_latest_asset_partition_materialization_attempts_without_materializations(
                dg.AssetKey("days")
            ).items()
        ),
        "materialized": sorted(instance.get_materialized_partitions(dg.AssetKey("days"))),
        "checks": sorted((index[c.run_id], c.status.value) for c in checks),
    }


def test_the_ui_reads_the_same_from_the_pooled_event_log_as_from_dagsters(pg_server_url, monkeypatch):
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "1000")
    seen, opened = {}, {}
    for pooled in (False, True):
        with (
            servers.fresh_database(pg_server_url) as url,
            dg.instance_for_test(overrides=storage_overrides(url, pooled)) as instance,
        ):
            assert isinstance(instance.event_log_storage, PooledPostgresEventLogStorage) is pooled
            run_ids, opened[pooled] = ranged_runs(instance)
            seen[pooled] = what_the_ui_reads(instance, run_ids)
    assert seen[True] == seen[False]
    ten_days = [f"2025-01-{d:02d}" for d in range(1, 11)]
    assert seen[True]["planned"] == [(run, day) for run in (0, 1) for day in ten_days]
    assert seen[True]["failed"] == [(day, 1) for day in ten_days]
    assert seen[True]["materialized"] == ten_days
    assert seen[True]["last_run"] == 1
    assert opened[True] <= 3 < 20 < opened[False]


@pytest.fixture
def pooled_storage(database_url):
    storage = PooledPostgresEventLogStorage(psycopg2_url(database_url))
    yield storage
    storage.dispose()


def store_log_line(storage: PooledPostgresEventLogStorage, run_id: str) -> None:
    storage.store_event(
        dg.EventLogEntry(
            error_info=None,
            level="INFO",
            user_message="hello",
            run_id=run_id,
            timestamp=0.0,
            step_key=None,
            job_name="job",
            dagster_event=None,
        )
    )


def test_a_connection_the_server_dropped_is_replaced_not_reported(pooled_storage, database_url):
    store_log_line(pooled_storage, "before")
    admin = psycopg2.connect(database_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    admin.close()
    store_log_line(pooled_storage, "after")
    assert [len(pooled_storage.get_logs_for_run(r)) for r in ("before", "after")] == [1, 1]


def backend_pid(storage: PooledPostgresEventLogStorage) -> int:
    with storage._connect() as conn:
        return conn.execute(db.text("SELECT pg_backend_pid()")).scalar_one()


def test_a_forked_child_opens_its_own_connection_and_leaves_the_parents_alone(pooled_storage):
    store_log_line(pooled_storage, "parent")
    parent_backend = backend_pid(pooled_storage)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            store_log_line(pooled_storage, "child")
            os.write(write_end, str(backend_pid(pooled_storage)).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    child_backend = int(os.read(read_end, 32) or 0)
    os.waitpid(pid, 0)
    assert child_backend not in (0, parent_backend)
    store_log_line(pooled_storage, "parent")
    assert backend_pid(pooled_storage) == parent_backend
    assert [len(pooled_storage.get_logs_for_run(r)) for r in ("parent", "child")] == [2, 1]
