"""UI-style backfill of days x symbols: runs and wall time with the BackfillPolicy vs one run per partition.

Seeds the lake with `ticklake seed-demo` into a temp TICKLAKE_HOME, asks Dagster for the runs a backfill of
every partition becomes (build_run_requests_with_backfill_policies: the grouping the asset daemon and the
backfill daemon apply), executes them in order with dg.materialize on the embedded PostgreSQL, and compares
with the naive one-run-per-partition launch (measured on a sample, the job-page behaviour).

    .venv/bin/python benchmarks/bench_backfill.py --days 30 --symbols EURUSD,GBPUSD,USDJPY --rate 0.02
"""

import argparse
import contextlib
import datetime as dt
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


@contextlib.contextmanager
def quiet():
    """Dagster's per-event run log goes to stderr; keep it, and show it only if a run fails."""
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            yield
    except BaseException:
        sys.stderr.write(captured.getvalue()[-20_000:])
        raise


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--symbols", default="EURUSD,GBPUSD,USDJPY")
    parser.add_argument("--rate", type=float, default=0.02)
    parser.add_argument("--sample", type=int, default=10, help="partitions run one per run for the baseline")
    parser.add_argument("--home", default=None, help="reuse a TICKLAKE_HOME seeded by an earlier run")
    args = parser.parse_args()
    reuse = bool(args.home) and Path(args.home, "lake").is_dir()
    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="ticklake-bench-"))
    end = dt.date(2025, 11, 13)
    start = end - dt.timedelta(days=args.days - 1)
    os.environ.update(TICKLAKE_HOME=str(home), TICKLAKE_START_DATE=start.isoformat())
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("TICKLAKE_LAKE_URL", None)
    ticklake = Path(sys.executable).parent / "ticklake"
    t0 = time.perf_counter()
    if not reuse:
        subprocess.run(
            [
                str(ticklake),
                "seed-demo",
                "--days",
                str(args.days),
                "--end",
                end.isoformat(),
                "--rate",
                str(args.rate),
                "--symbols",
                args.symbols,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        print(f"seeded {args.days} days x {args.symbols} in {time.perf_counter() - t0:.1f}s into {home}")

    import dagster as dg
    from dagster._core.definitions.automation_tick_evaluation_context import build_run_requests_with_backfill_policies
    from dagster._core.definitions.events import AssetKeyPartitionKey

    from ticklake_dagster.candles.database import stop_embedded_server
    from ticklake_dagster.definitions import build_resources
    from ticklake_dagster.defs.assets import raw_ticks, ticks_and_candles
    from ticklake_dagster.defs.partitions import partition_key, symbol_partitions_def
    from ticklake_dagster.defs.run_planning import TICKS_TO_CANDLES

    symbols = args.symbols.split(",")
    days = [start + dt.timedelta(days=i) for i in range(args.days)]
    keys = [str(partition_key(s, d)) for s in symbols for d in days]
    try:
        resources = build_resources()
        resources.pop("ingester", None)
        resources["database"].ensure_schema()
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions(symbol_partitions_def.name, symbols)
            graph = (
                dg.Definitions(assets=[raw_ticks, ticks_and_candles], resources=resources)
                .get_repository_def()
                .asset_graph
            )
            with dg.partition_loading_context(dynamic_partitions_store=instance):
                requests = build_run_requests_with_backfill_policies(
                    [AssetKeyPartitionKey(k, p) for k in TICKS_TO_CANDLES for p in keys], graph, instance
                )
            t0 = time.perf_counter()
            with quiet():
                for request in requests:
                    kwargs = {"partition_key": request.partition_key} if request.partition_key else {}
                    result = dg.materialize(
                        [ticks_and_candles],
                        instance=instance,
                        resources=resources,
                        tags=dict(request.tags),
                        **kwargs,
                    )
                    assert result.success
            policy_s = time.perf_counter() - t0
            # Days without ticks (FX weekends) are observed as no data, not materialized.
            done = instance.get_materialized_partitions(dg.AssetKey("candles_5m"))
            assert done and done <= set(keys), f"{len(done)} of {len(keys)} partitions materialized"
            print(
                f"backfill policy: {len(keys)} partitions in {len(requests)} runs, {policy_s:.1f}s wall "
                f"({len(keys) / policy_s:.1f} partitions/s)"
            )

            sample = keys[: args.sample]
            t0 = time.perf_counter()
            with quiet():
                for key in sample:
                    assert dg.materialize(
                        [ticks_and_candles], instance=instance, resources=resources, partition_key=key
                    ).success
            naive_s = time.perf_counter() - t0
            per = naive_s / len(sample)
            print(
                f"one run per partition (job-page launch): {per:.2f}s per partition on {len(sample)} partitions "
                f"-> {len(keys)} runs, ~{per * len(keys):.0f}s for the same backfill ({1 / per:.1f} partitions/s)"
            )
    finally:
        stop_embedded_server(home / "pg")  # the benchmark's own server, in its temp TICKLAKE_HOME
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
