"""Dagster as deployed: webserver, daemon and (optionally) a `dagster api grpc` code server as separate processes.

Used by the topology test and the UI-backfill benchmark: a backfill is launched the way the UI launches
it (GraphQL `launchPartitionBackfill`), the daemon creates and launches its runs, and the event log in
Dagster's PostgreSQL storage is counted before and after.
"""

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg2

from ticklake_dagster_tests.servers import free_port, wait_for_port

BIN = Path(sys.executable).parent
DEFINITIONS_MODULE = "ticklake_dagster.definitions"
LOCATION = "ticklake"

LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on PartitionSetNotFoundError { message }
    ... on UnauthorizedError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on InvalidOutputError { stepKey invalidOutputName }
  }
}
"""

BACKFILL_STATUS = """
query($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status numPartitions error { message } }
    ... on PythonError { message }
  }
}
"""

LOCATION_STATUS = """
{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""

AUTOMATION = """
{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name }
  sensors { name sensorState { id status } } schedules { name scheduleState { id status } } } } } }
"""

START_SENSOR = (
    "\nmutation($selector: SensorSelector!) { startSensor(sensorSelector: $selector) "
    "{ __typename ... on PythonError { message } } }\n"
)

STOP_SENSOR = """
mutation($id: String!) { stopSensor(id: $id) { __typename ... on PythonError { message } } }
"""

STOP_SCHEDULE = """
mutation($id: String!) { stopRunningSchedule(id: $id) { __typename ... on PythonError { message } } }
"""

FINISHED = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


def workspace_yaml(path: Path, grpc_port: int | None) -> Path:
    """A workspace file: the code location over gRPC (the Helm chart's shape), or the module in-process."""
    if grpc_port is None:
        text = (
            f"load_from:\n  - python_module:\n      module_name: {DEFINITIONS_MODULE}\n"
            f"      location_name: {LOCATION}\n"
        )
    else:
        text = (
            f"load_from:\n  - grpc_server:\n      host: 127.0.0.1\n      port: {grpc_port}\n"
            f"      location_name: {LOCATION}\n"
        )
    path.write_text(text)
    return path


@dataclasses.dataclass
class BackfillMeasure:
    status: str
    wall: float
    runs: int
    failed: list[str]
    partitions: int
    events: dict[str, int]  # event-log rows written during the backfill, by kind, and "total"
    timeline: list[tuple[float, float, float]] = dataclasses.field(
        default_factory=list
    )  # per run: created, started, ended (s from launch)
    backfill_id: str = ""

    def print_timeline(self) -> None:
        """Where the wall time went, daemon loop by daemon loop: run creation, queue and start-up, work, completion."""
        if not self.timeline:
            return
        created = [c for c, _, _ in self.timeline]
        waits = [s - c for c, s, _ in self.timeline]
        works = [e - s for _, s, e in self.timeline]
        last_end = max(e for _, _, e in self.timeline)
        print("timeline (s after launch):")
        print(
            f"  backfill daemon created the runs  {min(created):5.1f} .. {max(created):5.1f}  "
            "(its next iteration after the launch; it loops every 30 s)"
        )
        print(
            f"  queued + worker start-up          {sum(waits) / len(waits):5.1f} mean, {max(waits):.1f} max  "
            "(run queue dequeues every 1 s; a worker imports Dagster and the definitions)"
        )
        print(
            f"  working                           {sum(works) / len(works):5.1f} mean "
            f"({min(works):.1f}-{max(works):.1f}), "
            f"{sum(works) / self.wall:.2f} runs at once on average"
        )
        print(f"  last run ended                    {last_end:5.1f}")
        print(
            f"  backfill marked complete          {self.wall:5.1f}  "
            f"({self.wall - last_end:.1f} s later: the daemon's next iteration)"
        )

    def print_events(self) -> None:
        rows = self.events["total"]
        print(
            f"event-log rows written: {rows} ({rows / self.partitions:.1f} per partition, "
            f"{rows / max(self.runs, 1):.0f} per run)"
        )
        for kind in sorted(self.events):
            if kind != "total" and self.events[kind]:
                print(f"  {kind}: {self.events[kind]} ({self.events[kind] / self.partitions:.2f} per partition)")


class DagsterServices:
    """Handles to the running services: GraphQL calls and the storage's event log."""

    def __init__(self, url: str, storage_url: str, logs: Path):
        self.url = url
        self.storage_url = storage_url
        self.logs = logs

    def graphql(self, query: str, variables: dict | None = None, timeout: float = 120.0) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.loads(response.read())
        if answer.get("errors"):
            raise RuntimeError(f"GraphQL errors: {answer['errors']}")
        return answer["data"]

    def wait_loaded(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            entries = self.graphql(LOCATION_STATUS)["workspaceOrError"].get("locationEntries") or []
            loaded = [e for e in entries if e["loadStatus"] == "LOADED"]
            if loaded:
                error = loaded[0]["locationOrLoadError"]
                if error and error["__typename"] == "PythonError":
                    raise RuntimeError(f"code location failed to load: {error['message']}")
                return
            time.sleep(0.5)
        raise RuntimeError(f"code location not loaded within {timeout}s")

    def stop_automation(self, keep: tuple[str, ...] = ()) -> list[str]:
        """Turn every sensor and schedule off but the sensors in `keep`, which are turned on; return the names
        stopped.
        """
        stopped = []
        for repo in self.graphql(AUTOMATION)["repositoriesOrError"]["nodes"]:
            for sensor in repo["sensors"]:
                running = sensor["sensorState"]["status"] == "RUNNING"
                if sensor["name"] in keep:
                    if not running:  # a stop from an earlier run of the services stays in the instance
                        selector = {
                            "repositoryLocationName": repo["location"]["name"],
                            "repositoryName": repo["name"],
                            "sensorName": sensor["name"],
                        }
                        started = self.graphql(START_SENSOR, {"selector": selector})["startSensor"]
                        if started["__typename"] != "Sensor":
                            raise RuntimeError(f"sensor {sensor['name']} not started: {started}")
                elif running:
                    self.graphql(STOP_SENSOR, {"id": sensor["sensorState"]["id"]})
                    stopped.append(sensor["name"])
            for schedule in repo["schedules"]:
                if schedule["scheduleState"]["status"] == "RUNNING":
                    self.graphql(STOP_SCHEDULE, {"id": schedule["scheduleState"]["id"]})
                    stopped.append(schedule["name"])
        return stopped

    def launch_backfill(
        self, asset_keys: list[str], partition_names: list[str], title: str = "ticklake backfill"
    ) -> str:
        """What the asset page's Materialize → partitions dialog sends."""
        params = {
            "assetSelection": [{"path": [key]} for key in asset_keys],
            "partitionNames": partition_names,
            "fromFailure": False,
            "title": title,
        }
        result = self.graphql(LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
        if result["__typename"] != "LaunchBackfillSuccess":
            raise RuntimeError(f"backfill not launched: {result}")
        return result["backfillId"]

    def wait_backfill(self, backfill_id: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.graphql(BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]
            if status.get("status") in FINISHED:
                return status["status"]
            time.sleep(1.0)
        raise TimeoutError(f"backfill {backfill_id} not finished within {timeout}s")

    def event_counts(self) -> dict[str, int]:
        """Rows in Dagster's event log by event type (plus 'total')."""
        conn = psycopg2.connect(self.storage_url.replace("postgresql+psycopg2://", "postgresql://", 1))
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT coalesce(dagster_event_type, 'LOG'), count(*) FROM event_logs GROUP BY 1")
                counts = {kind: n for kind, n in cur.fetchall()}
        finally:
            conn.close()
        counts["total"] = sum(counts.values())
        return counts

    def measure_backfill(
        self, asset_keys: list[str], partition_names: list[str], title: str, timeout: float
    ) -> "BackfillMeasure":
        """Launch a backfill as the asset page does, wait for it, and count what Dagster wrote meanwhile."""
        import dagster as dg

        before = self.event_counts()
        t0, launched = time.perf_counter(), time.time()
        backfill = self.launch_backfill(asset_keys, partition_names, title=title)
        try:
            status = self.wait_backfill(backfill, timeout)
        except Exception:
            print(self.tail_logs(), file=sys.stderr)
            raise
        wall = time.perf_counter() - t0
        after = self.event_counts()
        with dg.DagsterInstance.get() as instance:
            records = instance.get_run_records(filters=dg.RunsFilter(tags={"dagster/backfill": backfill}))
        failed = [r.dagster_run.run_id for r in records if r.dagster_run.status != dg.DagsterRunStatus.SUCCESS]
        timeline = sorted(
            (r.create_timestamp.timestamp() - launched, r.start_time - launched, r.end_time - launched)
            for r in records
            if r.start_time and r.end_time
        )
        return BackfillMeasure(
            status,
            wall,
            len(records),
            failed,
            len(partition_names),
            {k: after[k] - before.get(k, 0) for k in after},
            timeline,
            backfill,
        )

    def tail_logs(self, chars: int = 4000) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-chars:]}" for p in sorted(self.logs.glob("*.log"))
        )


def _start(args: list[str], env: dict, log: Path, cwd: Path) -> subprocess.Popen:
    # Own session: stopping a service stops its children (run workers, the webserver's code server) too.
    return subprocess.Popen(
        args, env=env, cwd=cwd, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


def _stop(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout)


def deployed_env(monkeypatch, home: Path, database_url: str, storage_url: str, start, symbols: list[str]) -> dict:
    """Point this process at a deployment in `home` (lake folder, DATABASE_URL, Dagster's storage) and register symbols.

    Returns the environment for `dagster_services`, as `ticklake dev` prepares it.
    """
    import dagster as dg

    from ticklake_dagster.defs.instance import prepare_dagster_env, register_symbols

    for name, value in {
        "TICKLAKE_HOME": str(home),
        "DATABASE_URL": database_url,
        "DAGSTER_PG_URL": storage_url,
        "TICKLAKE_START_DATE": start.isoformat(),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TICKLAKE_LAKE_URL", raising=False)
    env = prepare_dagster_env()
    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
    monkeypatch.setenv("TICKLAKE_DAGSTER_PG_URL", env["TICKLAKE_DAGSTER_PG_URL"])
    with dg.DagsterInstance.get() as instance:
        register_symbols(instance, symbols)
    return env


@contextlib.contextmanager
def dagster_services(
    env: dict, workdir: Path, *, grpc: bool, automation: bool = True, keep_running: tuple[str, ...] = ()
):
    """Start the webserver and the daemon on a workspace file (plus `dagster api grpc` when grpc=True).

    automation=False turns sensors and schedules off before the daemon starts, except the sensors in keep_running.

    `env` must hold DAGSTER_HOME (with a dagster.yaml) and TICKLAKE_DAGSTER_PG_URL, as `prepare_dagster_env` makes them.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    logs = workdir / "logs"
    logs.mkdir(exist_ok=True)
    procs: list[subprocess.Popen] = []
    cwd = Path(__file__).resolve().parents[1]
    try:
        grpc_port = None
        if grpc:
            grpc_port = free_port()
            server = _start(
                [
                    str(BIN / "dagster"),
                    "api",
                    "grpc",
                    "-m",
                    DEFINITIONS_MODULE,
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(grpc_port),
                    "--location-name",
                    LOCATION,
                ],
                env,
                logs / "grpc.log",
                cwd,
            )
            procs.append(server)
            wait_for_port(grpc_port, server, timeout=120)
        workspace = workspace_yaml(workdir / "workspace.yaml", grpc_port)
        port = free_port()
        web = _start(
            [str(BIN / "dagster-webserver"), "-w", str(workspace), "-h", "127.0.0.1", "-p", str(port)],
            env,
            logs / "webserver.log",
            cwd,
        )
        procs.append(web)
        wait_for_port(port, web, timeout=180)
        services = DagsterServices(f"http://127.0.0.1:{port}", env["TICKLAKE_DAGSTER_PG_URL"], logs)
        services.wait_loaded()
        if not automation:
            services.stop_automation(keep=keep_running)
        procs.append(_start([str(BIN / "dagster-daemon"), "run", "-w", str(workspace)], env, logs / "daemon.log", cwd))
        yield services
    finally:
        for proc in reversed(procs):
            _stop(proc)
