"""The Dagster instance ticklake runs under: DAGSTER_HOME inside TICKLAKE_HOME, storage in PostgreSQL."""

import contextlib
import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg

from ticklake_dagster.candles.database import embedded_server_uri
from ticklake_dagster.core.errors import TicklakeError
from ticklake_dagster.core.settings import configured_dagster_home, get, is_set, ticklake_home
from ticklake_dagster.core.symbols import is_valid_symbol
from ticklake_dagster.defs.partitions import partition_key, symbol_partitions_def

DAGSTER_YAML = Path(__file__).resolve().parents[2] / "dagster.yaml"
# Added only in DAGSTER_HOME: the repository's dagster.yaml must load without the variable (Dagster reads
# ./dagster.yaml when DAGSTER_HOME is unset, e.g. for `dagster definitions validate -w workspace.yaml`).
# (dagster.yaml section, module, class): Dagster's PostgreSQL run and schedule storage, our event log.
STORAGE_CLASSES = (
    ("run_storage", "dagster_postgres.run_storage", "PostgresRunStorage"),
    ("event_log_storage", "ticklake_dagster.defs.dagster_internals", "PooledPostgresEventLogStorage"),
    ("schedule_storage", "dagster_postgres.schedule_storage", "PostgresScheduleStorage"),
)
STORAGE_SECTION = "".join(
    f"""
{section}:
  module: {module}
  class: {cls}
  config:
    postgres_url:
      env: TICKLAKE_DAGSTER_PG_URL
"""
    for section, module, cls in STORAGE_CLASSES
)


def psycopg2_url(url: str) -> str:
    """A postgres(ql):// URL with its driver pinned to psycopg2: SQLAlchemy 2.1 maps a bare postgresql:// to
    psycopg 3.
    """
    scheme, sep, rest = url.partition("://")
    return f"postgresql+psycopg2://{rest}" if sep and scheme in ("postgres", "postgresql") else url


def dagster_storage_url() -> str:
    """DAGSTER_PG_URL, else DATABASE_URL, else the embedded server's own `dagster` database (psycopg2 pinned)."""
    return psycopg2_url(
        get("DAGSTER_PG_URL") or get("DATABASE_URL") or embedded_server_uri(ticklake_home() / "pg", database="dagster")
    )


def prepare_dagster_env() -> dict[str, str]:
    """The environment for `dagster dev` and its runs: DAGSTER_HOME with our dagster.yaml, absolute paths."""
    if not DAGSTER_YAML.is_file():
        raise TicklakeError(f"dagster.yaml not found at {DAGSTER_YAML}: reinstall ticklake (`pip install -e .`)")
    home = ticklake_home()
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").write_text(DAGSTER_YAML.read_text() + STORAGE_SECTION)
    env = dict(os.environ)
    env.update(
        TICKLAKE_HOME=str(home),
        DAGSTER_HOME=str(dagster_home),
        TICKLAKE_DAGSTER_PG_URL=dagster_storage_url(),
    )
    # Dagster reads it with int() while it writes events: a bad value is one line here, not a failed run later.
    env["DAGSTER_EVENT_BATCH_SIZE"] = str(get("DAGSTER_EVENT_BATCH_SIZE"))
    return env


def register_symbols(instance: dg.DagsterInstance, symbols: list[str]) -> list[str]:
    """Add symbols missing from the dynamic `symbol` partitions; return the ones added."""
    assert symbol_partitions_def.name is not None  # a named dynamic partitions definition
    known = set(instance.get_dynamic_partitions(symbol_partitions_def.name))
    new = sorted(s for s in set(symbols) if s not in known and is_valid_symbol(s))
    if new:
        instance.add_dynamic_partitions(symbol_partitions_def.name, new)
    return new


# The pools the assets' steps claim (`pool=` on candles_5m, history_month and dukascopy_ticks).
POOLS = ("ticklake_database", "dukascopy")


def init_pools(instance: dg.DagsterInstance) -> list[str]:
    """Give every pool without a row yet its default limit now, before runs claim it; return those added.

    A step claiming a pool for the first time inserts the pool's row; two runs doing that at once on
    PostgreSQL make one fail with a duplicate key (Dagster 1.13 retries the insert as an update inside the
    aborted transaction), so the first backfill of history lost a run that way. Creating the rows here
    before the daemon starts leaves nothing to race for.
    """
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits or instance.global_op_concurrency_default_limit is None:
        return []
    known = storage.get_concurrency_keys()
    added = [pool for pool in POOLS if pool not in known]
    for pool in added:
        storage.initialize_concurrency_limit_to_default(pool)
    return added


@contextlib.contextmanager
def open_configured_instance() -> Iterator[dg.DagsterInstance | None]:
    """The configured instance (storage settings as `ticklake dev` gives them), or None when there is none."""
    home = configured_dagster_home()
    if home is None:
        yield None
        return
    if home == ticklake_home() / "dagster" and not is_set("TICKLAKE_DAGSTER_PG_URL"):
        os.environ.update(prepare_dagster_env())
    with dg.DagsterInstance.get() as instance:
        yield instance


def report_materialized_days(instance: dg.DagsterInstance, symbol: str, days: list[tuple[dt.date, dict, dict]]) -> None:
    """Record (day, r2_ticks metadata, candles_5m metadata) as runless materializations of those partitions.

    Work done outside a run (`ticklake materialize`) then shows on the assets' partition pages like a run's.
    """
    register_symbols(instance, [symbol])
    for day, ticks_meta, candles_meta in days:
        key = partition_key(symbol, day)
        instance.report_runless_asset_event(dg.AssetMaterialization("r2_ticks", partition=key, metadata=ticks_meta))
        instance.report_runless_asset_event(dg.AssetMaterialization("candles_5m", partition=key, metadata=candles_meta))


def run_worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid the run's worker reported ("Started process for run"), or None when it never did."""
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        data = entry.dagster_event.engine_event_data if entry.dagster_event else None
        pid = data.metadata.get("pid") if data else None
        if pid is not None:
            return int(str(pid.value))  # Dagster records the pid as text
    return None


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_orphaned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark runs failed that are STARTED but whose run worker process is gone; return their ids.

    Dagster's run monitoring fails runs stuck STARTING, but cannot check the workers of the default run
    launcher that `ticklake dev` uses, so a run in flight when `ticklake dev` was stopped or killed would
    stay STARTED forever. Its worker ran on this machine, so its pid tells whether it still runs.
    """
    failed = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        run = record.dagster_run
        pid = run_worker_pid(instance, run.run_id)
        if pid is None or process_exists(pid):
            continue
        instance.report_run_failed(
            run, f"Run worker (pid {pid}) is gone: Dagster was stopped while the run was in flight"
        )
        failed.append(run.run_id)
    return failed
