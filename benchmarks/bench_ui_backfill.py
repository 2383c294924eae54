"""A UI backfill through the real webserver and daemon: wall time, runs, and Dagster event-log rows per partition.

Seeds `ticklake seed-demo`-like raw parts into a temp TICKLAKE_HOME, starts `dagster-daemon` and
`dagster-webserver` on the embedded PostgreSQL (the storage `ticklake dev` uses), launches the backfill
with the GraphQL mutation the asset page sends, waits for the daemon to finish it, and counts the rows
Dagster wrote to its event log. The same days are then run through the plain pipeline functions with no
Dagster at all, so the report separates Dagster's bookkeeping from the candle work.

    .venv/bin/python benchmarks/bench_ui_backfill.py --days 365 --symbols EURUSD,GBPUSD,USDJPY,AUDUSD,USDCHF --rate 1
    .venv/bin/python benchmarks/bench_ui_backfill.py --days 14 --symbols EURUSD,GBPUSD --rate 0.05   # quick
"""

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def seed(home: Path, args, end: dt.date) -> None:
    ticklake = Path(sys.executable).parent / "ticklake"
    t0 = time.perf_counter()
    subprocess.run([str(ticklake), "seed-demo", "--days", str(args.days), "--end", end.isoformat(), "--rate", str(args.rate),
                    "--symbols", args.symbols], check=True, stdout=subprocess.DEVNULL, env=os.environ)
    print(f"seeded {args.days} days x {args.symbols} at {args.rate} ticks/s in {time.perf_counter() - t0:.1f}s into {home}")


def plain_pipeline_seconds(symbols: list[str], days: list[dt.date]) -> tuple[float, int]:
    """The same compaction and candle writes through the plain functions, one process, no Dagster."""
    from ticklake_dagster.candles import build_candles
    from ticklake_dagster.definitions import build_resources
    from ticklake_dagster.pipeline import compact_day, refresh_after_write, write_day

    resources = build_resources()
    lake, database = resources["lake"].get_lake(), resources["database"]
    flavor = database.ensure_schema()
    ticks = 0
    t0 = time.perf_counter()
    with database.connect() as conn:
        for symbol in symbols:
            for day in days:
                result = compact_day(lake, symbol, day)
                ticks += len(result.ticks)
                write_day(conn, flavor, symbol, day, build_candles(result.ticks))
        refresh_after_write(conn, flavor, days)
    return time.perf_counter() - t0, ticks


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--symbols", default="EURUSD,GBPUSD")
    parser.add_argument("--rate", type=float, default=0.05, help="ticks/s of the synthetic feed (seed-demo's default is 1)")
    parser.add_argument("--end", default="2025-11-13")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--home", default=None, help="TICKLAKE_HOME to use (kept); default a temp folder")
    parser.add_argument("--no-plain", action="store_true", help="skip the no-Dagster comparison")
    args = parser.parse_args()
    home = Path(args.home or tempfile.mkdtemp(prefix="ticklake-bench-ui-")).resolve()
    end = dt.date.fromisoformat(args.end)
    start = end - dt.timedelta(days=args.days - 1)
    os.environ.update(TICKLAKE_HOME=str(home), TICKLAKE_START_DATE=start.isoformat())
    for name in ("DATABASE_URL", "TICKLAKE_LAKE_URL", "DAGSTER_PG_URL", "DAGSTER_HOME"):
        os.environ.pop(name, None)
    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
    days = [start + dt.timedelta(days=i) for i in range(args.days)]
    if not (home / "lake").is_dir():
        seed(home, args, end)

    import dagster as dg

    from ticklake_dagster.instance import prepare_dagster_env, register_symbols
    from ticklake_dagster.run_planning import TICKS_TO_CANDLES
    from ticklake_dagster.partitions import partition_key
    from ticklake_dagster.postgres import stop_embedded_server
    from ticklake_dagster_tests.dagster_services import dagster_services

    env = prepare_dagster_env()
    os.environ.update(env)
    keys = [str(partition_key(s, d)) for s in symbols for d in days]
    asset_keys = [k.to_user_string() for k in TICKS_TO_CANDLES]
    try:
        with dg.DagsterInstance.get() as instance:
            register_symbols(instance, symbols)
        with dagster_services(env, home / "services", grpc=False, automation=False) as services:
            m = services.measure_backfill(asset_keys, keys, "bench_ui_backfill", args.timeout)
        status, wall, failed = m.status, m.wall, m.failed
        print(f"UI backfill of {len(keys)} partitions ({len(symbols)} symbols x {len(days)} days), assets {', '.join(asset_keys)}: "
              f"{status} in {wall:.1f}s, {m.runs} runs ({len(failed)} not successful)")
        m.print_events()
        m.print_timeline()
        if not args.no_plain:
            plain, ticks = plain_pipeline_seconds(symbols, days)
            print(f"same work through the plain functions, no Dagster: {plain:.1f}s for {ticks:,} ticks "
                  f"-> Dagster's share of the backfill's wall time: {max(0.0, 1 - plain / wall):.0%}")
        if failed:
            print(f"runs not successful: {failed}", file=sys.stderr)
            return 1
    finally:
        stop_embedded_server(home / "pg")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
