"""History at scale through the real webserver and daemon: decades of one symbol backfilled from the UI.

Writes a synthetic history into a temp lake (FX weekends empty, `--ticks-per-day` on trading days,
one raw part per hour as a Dukascopy import writes them), then launches the UI backfill of
history_ticks + history_candles for every symbol-month (GraphQL `launchPartitionBackfill`, as the
asset page does), waits for the daemon, and reports wall time, runs, Dagster event-log rows per
partition, and how much of the wall time the candle work itself takes (the same months through the
plain functions, no Dagster), with an estimate for 30 symbols.

    .venv/bin/python benchmarks/bench_history_backfill.py --years 23 --ticks-per-day 10000     # the full size
    .venv/bin/python benchmarks/bench_history_backfill.py --years 1 --ticks-per-day 2000       # quick
"""

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

HOUR_MS = 3_600_000


def write_history(lake, symbol: str, first: dt.date, last: dt.date, ticks_per_day: int) -> tuple[int, int]:
    """Synthetic ticks for every trading day in [first, last], one part per hour; (ticks, parts) written."""
    from ticklake_dagster.lake_keys import raw_part_key
    from ticklake_dagster.synthetic import RandomWalk, generate_day
    from ticklake_dagster.ticks import ticks_to_parquet

    walk = RandomWalk(symbol)
    ticks = parts = 0
    day = first
    while day <= last:
        ts, bid, ask = generate_day(symbol, day, rate=ticks_per_day / 86_400, walk=walk)
        if len(ts):
            cuts = np.searchsorted(ts, ts[0] - ts[0] % HOUR_MS + HOUR_MS * np.arange(1, 25))
            for i, j in zip(np.r_[0, cuts[:-1]], cuts):
                if j > i:
                    lake.put(raw_part_key(symbol, day, int(ts[i])), ticks_to_parquet(ts[i:j], bid[i:j], ask[i:j]))
                    parts += 1
            ticks += len(ts)
        day += dt.timedelta(days=1)
    return ticks, parts


def plain_seconds(symbol: str, months: list[dt.date], daily_start: dt.date) -> float:
    """The same months through the plain functions in one process: the candle work without Dagster."""
    from ticklake_dagster.definitions import build_resources
    from ticklake_dagster.history import compact_month, write_month

    resources = build_resources()
    lake, database = resources["lake"].get_lake(), resources["database"]
    flavor = database.ensure_schema()
    now = dt.datetime.now(dt.timezone.utc)
    t0 = time.perf_counter()
    with database.connect() as conn:
        for month in months:
            write_month(conn, flavor, compact_month(lake, symbol, month, daily_start), resources["settings"].retention_days, now)
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--years", type=int, default=1)
    parser.add_argument("--ticks-per-day", type=int, default=2000)
    parser.add_argument("--symbol", default="EURUSD")
    parser.add_argument("--history-start", default="2003-05-01")
    parser.add_argument("--timeout", type=float, default=7200)
    parser.add_argument("--home", default=None, help="TICKLAKE_HOME to use (kept); default a temp folder")
    args = parser.parse_args()
    home = Path(args.home or tempfile.mkdtemp(prefix="ticklake-bench-history-")).resolve()
    first = dt.date.fromisoformat(args.history_start)
    daily_start = first.replace(year=first.year + args.years)
    os.environ.update(TICKLAKE_HOME=str(home), TICKLAKE_HISTORY_START=first.isoformat(), TICKLAKE_START_DATE=daily_start.isoformat())
    for name in ("DATABASE_URL", "TICKLAKE_LAKE_URL", "DAGSTER_PG_URL", "DAGSTER_HOME"):
        os.environ.pop(name, None)

    import dagster as dg

    from ticklake_dagster.assets.history import HISTORY_CANDLES, HISTORY_TICKS, history_partition_key
    from ticklake_dagster.instance import prepare_dagster_env, register_symbols
    from ticklake_dagster.resources import LakeResource
    from ticklake_dagster.postgres import stop_embedded_server
    from ticklake_dagster_tests.dagster_services import dagster_services

    months = []
    month = first
    while month < daily_start:
        months.append(month)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    if not (home / "lake").is_dir():
        t0 = time.perf_counter()
        ticks, parts = write_history(LakeResource.from_env().get_lake(), args.symbol, first, daily_start - dt.timedelta(days=1), args.ticks_per_day)
        print(f"wrote {ticks:,} ticks in {parts:,} hourly parts ({args.years} years of {args.symbol}) in {time.perf_counter() - t0:.0f}s into {home}")
    env = prepare_dagster_env()
    os.environ.update(env)
    keys = [history_partition_key(args.symbol, m) for m in months]
    try:
        with dg.DagsterInstance.get() as instance:
            register_symbols(instance, [args.symbol])
        with dagster_services(env, home / "services", grpc=False, automation=False) as services:
            m = services.measure_backfill([HISTORY_TICKS.to_user_string(), HISTORY_CANDLES.to_user_string()], keys,
                                          "bench_history_backfill", args.timeout)
            with dg.DagsterInstance.get() as instance:
                done = instance.get_materialized_partitions(HISTORY_CANDLES)
        status, wall, failed = m.status, m.wall, m.failed
        print(f"UI backfill of {len(keys)} symbol-months ({args.years} years of {args.symbol}): {status} in {wall:.1f}s, "
              f"{m.runs} runs ({len(failed)} not successful), {len(done)} months with data materialized")
        m.print_events()
        m.print_timeline()
        plain = plain_seconds(args.symbol, months, daily_start)
        print(f"same months through the plain functions, no Dagster: {plain:.1f}s -> candle work {plain / wall:.0%} "
              f"of the wall time, Dagster {max(0.0, 1 - plain / wall):.0%}")
        print(f"30 symbols, same machine, same settings: ~{30 * wall / 60:.0f} minutes "
              f"(~{30 * plain / 60:.0f} of them candle work)")
        if failed:
            print(f"runs not successful: {failed}", file=sys.stderr)
            return 1
    finally:
        stop_embedded_server(home / "pg")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
