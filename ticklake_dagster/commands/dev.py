"""Run the Dagster UI and daemon with this project, on the embedded database unless DATABASE_URL is set."""

import os
import shutil
import sys
from pathlib import Path

from ticklake_dagster.core.errors import TicklakeError

DEV_SUPERSEDED = "ignore:Function `dev_command` is superseded"


def add_arguments(parser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument(
        "--setup-only",
        action="store_true",
        help="prepare DAGSTER_HOME under TICKLAKE_HOME and register the lake's symbols, then exit",
    )


def run(args) -> int:
    import dagster as dg

    from ticklake_dagster.commands.process_group import run_supervised
    from ticklake_dagster.defs.instance import fail_orphaned_runs, init_pools, prepare_dagster_env, register_symbols
    from ticklake_dagster.defs.resources import LakeResource
    from ticklake_dagster.lake.scan import lake_symbols

    env = prepare_dagster_env()
    os.environ.update(env)
    lake = LakeResource.from_env().get_lake()
    with dg.DagsterInstance.get() as instance:
        added = register_symbols(instance, lake_symbols(lake))
        init_pools(instance)
        orphaned = fail_orphaned_runs(instance)
    if orphaned:
        print(f"Marked {len(orphaned)} runs failed whose run worker is gone: {', '.join(orphaned)}")
    if added:
        print(f"Registered symbols from {lake.describe()}: {', '.join(added)}")
    if args.setup_only:
        print(f"Dagster instance ready in {env['DAGSTER_HOME']}")
        return 0
    beside = Path(sys.executable).parent / "dagster"
    dagster = str(beside) if beside.is_file() else shutil.which("dagster")
    if not dagster:
        raise TicklakeError("The dagster command is not installed in this environment")
    print(
        f"Dagster UI on http://{args.host}:{args.port} (DAGSTER_HOME={env['DAGSTER_HOME']}); "
        "stop with Ctrl-C or SIGTERM",
        flush=True,
    )
    argv = [dagster, "dev", "-m", "ticklake_dagster.definitions", "-h", args.host, "-p", str(args.port)]
    # From DAGSTER_HOME, Dagster finds no second dagster.yaml in the working directory to warn about; and
    # `dg dev` (what its warning recommends) needs a dg project layout this package does not use.
    quiet = {**env, "PYTHONWARNINGS": ",".join(filter(None, [env.get("PYTHONWARNINGS"), DEV_SUPERSEDED]))}
    code = run_supervised(argv, quiet, label="Dagster", cwd=env["DAGSTER_HOME"])
    # Everything is stopped; skip the interpreter's teardown of the Dagster modules imported above,
    # which takes seconds on a loaded machine and would count against the stop deadline.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
