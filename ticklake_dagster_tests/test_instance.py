"""The Dagster instance `ticklake dev` runs under: dagster.yaml really keeps storage in PostgreSQL."""

import datetime as dt
import os
import re
import subprocess
import sys

import dagster as dg
import pytest
from dagster._core.events import EngineEventData
from dagster._core.utils import make_new_run_id
from dagster_postgres import PostgresRunStorage

from ticklake_dagster.core.errors import InvalidInput
from ticklake_dagster.defs.dagster_internals import PooledPostgresEventLogStorage
from ticklake_dagster.defs.instance import POOLS, fail_orphaned_runs, init_pools, prepare_dagster_env, register_symbols
from ticklake_dagster.lake.scan import lake_symbols


def test_dagster_home_uses_postgres_storage(tmp_path, database_url, monkeypatch):
    monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE", raising=False)
    monkeypatch.setenv("TICKLAKE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("DAGSTER_PG_URL", raising=False)
    env = prepare_dagster_env()
    assert env["DAGSTER_HOME"] == str(tmp_path / "home" / "dagster")
    assert env["TICKLAKE_DAGSTER_PG_URL"].startswith("postgresql+psycopg2://")
    monkeypatch.setenv("TICKLAKE_DAGSTER_PG_URL", env["TICKLAKE_DAGSTER_PG_URL"])
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PooledPostgresEventLogStorage)
        assert env["DAGSTER_EVENT_BATCH_SIZE"] == "1000"
        instance.add_dynamic_partitions("symbol", ["EURUSD"])
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as again:  # persisted, not in memory
        assert again.get_dynamic_partitions("symbol") == ["EURUSD"]


def test_event_batch_size_is_checked_before_dagster_reads_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TICKLAKE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DATABASE_URL", "postgresql://127.0.0.1:9/unused")
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "0")
    assert prepare_dagster_env()["DAGSTER_EVENT_BATCH_SIZE"] == "0"  # batching off, as Dagster's default
    for bad in ("lots", "-1", "2.5"):
        monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", bad)
        with pytest.raises(InvalidInput, match=f"^Invalid DAGSTER_EVENT_BATCH_SIZE='{re.escape(bad)}'") as error:
            prepare_dagster_env()
        assert "\n" not in str(error.value)


@pytest.fixture
def configured_home(tmp_path, database_url, monkeypatch) -> str:
    """DAGSTER_HOME as `ticklake dev` prepares it, its storage on the test PostgreSQL."""
    monkeypatch.setenv("TICKLAKE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("DAGSTER_PG_URL", raising=False)
    env = prepare_dagster_env()
    monkeypatch.setenv("TICKLAKE_DAGSTER_PG_URL", env["TICKLAKE_DAGSTER_PG_URL"])
    return env["DAGSTER_HOME"]


def test_dagster_yaml_fails_runs_that_never_start_instead_of_resuming_them(configured_home):
    with dg.DagsterInstance.from_config(configured_home) as instance:
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_start_timeout_seconds == 180
        assert instance.run_monitoring_max_resume_run_attempts == 0


def started_run(instance: dg.DagsterInstance, pid: int | None) -> str:
    run = instance.add_run(
        dg.DagsterRun(job_name="__ASSET_JOB", run_id=make_new_run_id(), status=dg.DagsterRunStatus.STARTED)
    )
    if pid is not None:
        instance.report_engine_event(f"Started process for run (pid: {pid}).", run, EngineEventData.in_process(pid))
    return run.run_id


def test_every_pool_the_assets_claim_gets_its_default_limit_before_any_run(configured_home):
    from ticklake_dagster.definitions import defs

    claimed = {a.op.pool for a in defs.assets if isinstance(a, dg.AssetsDefinition) and a.op.pool}
    assert claimed == set(POOLS)
    with dg.DagsterInstance.from_config(configured_home) as instance:
        assert sorted(init_pools(instance)) == sorted(POOLS)
        assert init_pools(instance) == []  # a second `ticklake dev` finds them there
        for pool in POOLS:
            info = instance.event_log_storage.get_concurrency_info(pool)
            assert info.slot_count == instance.global_op_concurrency_default_limit == 2


def test_started_runs_whose_worker_is_gone_are_marked_failed():
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    with dg.instance_for_test() as instance:
        gone = started_run(instance, finished.pid)
        alive = started_run(instance, os.getpid())
        unreported = started_run(instance, None)
        assert fail_orphaned_runs(instance) == [gone]
        status = {r: instance.get_run_by_id(r).status for r in (gone, alive, unreported)}
        assert status == {
            gone: dg.DagsterRunStatus.FAILURE,
            alive: dg.DagsterRunStatus.STARTED,
            unreported: dg.DagsterRunStatus.STARTED,
        }
        assert fail_orphaned_runs(instance) == []


def test_symbols_found_in_the_lake_are_registered_once(file_lake_resource):
    lake = file_lake_resource.get_lake()
    for key in (
        "ticks/EURUSD/2025/11/13/part-1-a.parquet",
        "ticks/BTC-USD/2025/11/13/part-1-a.parquet",
        "ticks/bad symbol/2025/11/13/part-1-a.parquet",
        "ticks/lower/2025/11/13/part-1-a.parquet",
    ):
        lake.put(key, b"")
    assert lake_symbols(lake) == ["BTC-USD", "EURUSD"]
    with dg.instance_for_test() as instance:
        assert register_symbols(instance, lake_symbols(lake)) == ["BTC-USD", "EURUSD"]
        assert register_symbols(instance, lake_symbols(lake)) == []
        assert sorted(instance.get_dynamic_partitions("symbol")) == ["BTC-USD", "EURUSD"]


def test_a_backfill_of_years_leaves_a_run_slot_and_the_queue_front_to_the_live_window(configured_home):
    """Dagster's own queue logic, on our dagster.yaml: 4 backfill runs in flight block a fifth, not the sensor's."""
    from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon
    from dagster._utils.tags import TagConcurrencyLimitsCounter

    from ticklake_dagster.defs.run_planning import run_requests_for

    live_tags = run_requests_for({("EURUSD", dt.date(2025, 11, 13))}, {"ticklake/trigger": "lake_sensor"})[0].tags

    def run(tags: dict) -> dg.DagsterRun:
        return dg.DagsterRun(job_name="__ASSET_JOB", run_id=make_new_run_id(), tags=tags)

    with dg.DagsterInstance.from_config(configured_home) as instance:
        queue = instance.get_concurrency_config().run_queue_config
    backfill_runs = [run({"dagster/backfill": f"b{i % 2}"}) for i in range(4)]
    counter = TagConcurrencyLimitsCounter(queue.tag_concurrency_limits, backfill_runs)
    assert counter.is_blocked(run({"dagster/backfill": "b2"}))
    assert not counter.is_blocked(run(live_tags))
    assert queue.max_concurrent_runs > len(backfill_runs)
    queued = [run({"dagster/backfill": "b0"}), run(live_tags)]
    assert QueuedRunCoordinatorDaemon(interval_seconds=5)._priority_sort(queued)[0].tags == live_tags
