"""Start-up time of the `ticklake` command line: lazy command imports next to the former eager ones.

Measured in the same run, each as a fresh interpreter (median of --repeat runs, wall clock):
- `ticklake --help` and every `ticklake <command> --help` as shipped (heavy modules imported in run());
- the same with the former eager behaviour: the modules each command used to import at its top
  (Dagster through the resources, the pipeline, pandas) imported first, all of them for `--help`;
- `ticklake materialize` of one small seeded day, split into import time (`-X importtime`, the sum of
  top-level imports) and the rest (start-up, lake, database, writing): as shipped (plain lake and
  database code, no Dagster without an instance), next to the former way (Dagster imported through
  `LakeResource`/`DatabaseResource` and the asset metadata before the command runs).

Usage: python benchmarks/bench_cli.py [--repeat 5] [--rate 0.2]
(DATABASE_URL to use your own PostgreSQL; otherwise an embedded one in a temp folder).
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ticklake_dagster.commands.cli import COMMANDS  # noqa: E402

DAY = "2025-11-13"
# What each command module imported at its top before the imports moved into run(); --help imported them all.
EAGER_IMPORTS = {
    "materialize": [
        "ticklake_dagster.candles.building",
        "ticklake_dagster.ticks.compaction",
        "ticklake_dagster.defs.resources",
    ],
    "migrate": ["ticklake_dagster.defs.resources"],
    "seed-demo": [
        "ticklake_dagster.lake.keys",
        "ticklake_dagster.defs.resources",
        "ticklake_dagster.sources.synthetic",
        "ticklake_dagster.lake.parts",
    ],
    "dev": ["dagster", "ticklake_dagster.defs.instance", "ticklake_dagster.defs.resources"],
    "ingest": [],
    "serve": ["ticklake_dagster.defs.resources"],
}

# What `ticklake materialize` imported before it reached the lake and database through plain code.
FORMER_MATERIALIZE_IMPORTS = ["ticklake_dagster.defs.metadata", "ticklake_dagster.defs.resources"]


def eager_script(command: str | None, modules: list[str] | None = None) -> str:
    """`ticklake` as it started before: the command's former top-level imports (all of them for --help) first."""
    if modules is None:
        modules = sorted({m for name, ms in EAGER_IMPORTS.items() if command in (None, name) for m in ms})
    preload = "".join(f"import {m}\n" for m in modules)
    return f"import sys\n{preload}from ticklake_dagster.commands.cli import main\nsys.exit(main(sys.argv[1:]))"


def wall(argv: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return took


def median_wall(argv: list[str], env: dict, repeat: int) -> float:
    return statistics.median(wall(argv, env) for _ in range(repeat))


def import_seconds(stderr: str) -> float:
    """Sum of the top-level imports' cumulative times in `-X importtime` output."""
    total = 0
    for line in stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\S.*)$", line)
        if m:
            total += int(m.group(1))
    return total / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rate", type=float, default=0.2, help="seeded ticks per second for the materialized day")
    args = parser.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TICKLAKE_HOME": tmp}
        env.pop("DAGSTER_HOME", None)
        print(
            f"python start-up alone: {median_wall([py, '-c', 'pass'], env, args.repeat):.3f} s "
            f"(median of {args.repeat}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
        )
        print(f"{'command':<26}{'lazy (now)':>12}{'eager (before)':>16}")
        for cmd in [[], *[[name] for name in COMMANDS]]:
            argv = [*cmd, "--help"]
            lazy = median_wall([py, "-m", "ticklake_dagster.commands.cli", *argv], env, args.repeat)
            eager = median_wall([py, "-c", eager_script(cmd[0] if cmd else None), *argv], env, args.repeat)
            print(f"{'ticklake ' + ' '.join(argv):<26}{lazy:>10.3f} s{eager:>14.3f} s")

        cli = [py, "-m", "ticklake_dagster.commands.cli"]
        wall(cli + ["seed-demo", "--symbols", "EURUSD", "--days", "1", "--end", DAY, "--rate", str(args.rate)], env)
        wall(cli + ["migrate"], env)  # the embedded server started and the schema in place: measure the steady state
        variants = {"now": cli, "before": [py, "-c", eager_script("materialize", FORMER_MATERIALIZE_IMPORTS)]}
        runs = {name: [] for name in variants}
        for _ in range(args.repeat):
            for name, argv in variants.items():  # interleaved, so both see the same machine load
                t0 = time.perf_counter()
                proc = subprocess.run(
                    [py, "-X", "importtime", *argv[1:], "materialize", "EURUSD", DAY],
                    env=env,
                    capture_output=True,
                    text=True,
                )
                took = time.perf_counter() - t0
                if proc.returncode != 0:
                    raise SystemExit(f"materialize failed: {proc.stderr.strip().splitlines()[-1:]}")
                dagster = any(re.search(r"\|\s+dagster$", line) for line in proc.stderr.splitlines())
                runs[name].append((took, import_seconds(proc.stderr), dagster))
        ticks = re.search(r"merged (\d+) ticks", proc.stdout).group(1)
        print(f"ticklake materialize EURUSD {DAY} ({ticks} ticks, 288 candles), median of {args.repeat}:")
        for name, measured in runs.items():
            took, imports = statistics.median(t for t, _, _ in measured), statistics.median(i for _, i, _ in measured)
            print(
                f"  {name:<7}{took:.3f} s wall, {imports:.3f} s imports ({imports / took:.0%}), "
                f"{took - imports:.3f} s start-up and work; dagster imported: {'yes' if measured[0][2] else 'no'}"
            )
        if not os.environ.get("DATABASE_URL"):
            from ticklake_dagster.candles.database import stop_embedded_server

            stop_embedded_server(Path(tmp) / "pg")


if __name__ == "__main__":
    main()
