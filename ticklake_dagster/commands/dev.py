"""Run the Dagster UI and daemon with this project, on the embedded database unless DATABASE_URL is set."""

import os
import shutil
import sys
from pathlib import Path

import dagster as dg

from ticklake_dagster.errors import TicklakeError
from ticklake_dagster.instance import prepare_dagster_env, register_symbols
from ticklake_dagster.lake_scan import lake_symbols
from ticklake_dagster.resources import LakeResource


def add_arguments(parser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)


def run(args) -> int:
    env = prepare_dagster_env()
    os.environ.update(env)
    lake = LakeResource.from_env().get_lake()
    with dg.DagsterInstance.get() as instance:
        added = register_symbols(instance, lake_symbols(lake))
    if added:
        print(f"Registered symbols from {lake.describe()}: {', '.join(added)}")
    beside = Path(sys.executable).parent / "dagster"
    dagster = str(beside) if beside.is_file() else shutil.which("dagster")
    if not dagster:
        raise TicklakeError("The dagster command is not installed in this environment")
    print(f"Dagster UI on http://{args.host}:{args.port} (DAGSTER_HOME={env['DAGSTER_HOME']})", flush=True)
    os.execve(dagster, [dagster, "dev", "-m", "ticklake_dagster.definitions", "-h", args.host, "-p", str(args.port)], env)
    return 0
