"""A UI backfill through the real webserver and daemon: wall time, runs, and Dagster event-log rows per partition.

Seeds `ticklake seed-demo`-like raw parts into a temp TICKLAKE_HOME, starts `dagster-daemon` and
`dagster-webserver` on the embedded PostgreSQL (the storage `ticklake dev` uses), launches the backfill
with the GraphQL mutation the asset page sends, waits for the daemon to finish it, and counts the rows
Dagster wrote to its event log. The same days are then run through the plain pipeline functions with no
Dagster at all, so the report separates Dagster's bookkeeping from the candle work.

    .venv/bin/python benchmarks/bench_ui_backfill.py --days 365 --symbols EURUSD,GBPUSD,USDJPY,AUDUSD,USDCHF --rate 1
    .venv/bin/python benchmarks/bench_ui_backfill.py --days 14 --symbols EURUSD,GBPUSD --rate 0.05   # quick

With --live SYMBOL, the lake sensor stays on (re-materializing a live day at most every 60 s) and a feed
writes a raw part of SYMBOL for today every 20 s while the backfill runs, as the ingester would; the
report then says how long the live window's runs waited in the run queue and how long after each part
its candles were written.
"""

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def seed(home: Path, args, end: dt.date) -> None:
    ticklake = Path(sys.executable).parent / "ticklake"
    t0 = time.perf_counter()
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
        env=os.environ,
    )
    print(
        f"seeded {args.days} days x {args.symbols} at {args.rate} ticks/s "
        f"in {time.perf_counter() - t0:.1f}s into {home}"
    )


def plain_pipeline_seconds(symbols: list[str], days: list[dt.date]) -> tuple[float, int]:
    """The same compaction and candle writes through the plain functions, one process, no Dagster."""
    from ticklake_dagster.candles.building import build_candles
    from ticklake_dagster.candles.sql import refresh_after_write, write_day
    from ticklake_dagster.definitions import build_resources
    from ticklake_dagster.ticks.compaction import compact_day

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


class LiveFeed(threading.Thread):
    """Writes a 20-second raw part of `symbol` for today every `every` seconds; keeps when each was written."""

    def __init__(self, symbol: str, every: float = 20.0):
        super().__init__(daemon=True)
        self.symbol, self.every, self.written, self.stop = symbol, every, [], threading.Event()

    def run(self) -> None:
        import numpy as np

        from ticklake_dagster.lake.config import LakeConfig
        from ticklake_dagster.lake.keys import raw_part_key
        from ticklake_dagster.lake.parts import ticks_to_parquet
        from ticklake_dagster.sources.synthetic import RandomWalk

        lake, walk = LakeConfig.from_env().get_lake(), RandomWalk(self.symbol, seed=7)
        while not self.stop.is_set():
            now_ms = int(time.time() * 1000)
            ts = np.arange(now_ms - 20_000, now_ms, 100, dtype="int64")
            bid, ask = walk.step(len(ts))
            day = dt.datetime.fromtimestamp(ts[0] / 1000, dt.timezone.utc).date()
            lake.put(raw_part_key(self.symbol, day, int(ts[0]), "live"), ticks_to_parquet(ts, bid, ask))
            self.written.append(time.time())
            self.stop.wait(self.every)


def print_live(instance, feed: LiveFeed, launched: float, ended: float) -> None:
    """The lake sensor's runs during the backfill: their queue wait, and how long after each part its candles
    were written.
    """
    import dagster as dg

    from ticklake_dagster.defs.run_planning import TRIGGER_TAG

    records = instance.get_run_records(filters=dg.RunsFilter(tags={TRIGGER_TAG: "lake_sensor"}))
    runs = sorted(
        (r.create_timestamp.timestamp(), r.start_time, r.end_time)
        for r in records
        if r.start_time and r.end_time and launched <= r.create_timestamp.timestamp() <= ended
    )
    if not runs:
        print(
            f"live window: no lake-sensor run for {feed.symbol} while the backfill ran "
            f"({len(feed.written)} parts written)"
        )
        return
    waits = sorted(start - created for created, start, _ in runs)
    # A run lists the day's parts when it starts: a part's candles are in once the first run started after it ends.
    covered = sorted(min(end for _, start, end in runs if start >= w) - w for w in feed.written if w <= runs[-1][1])
    median = covered[len(covered) // 2] if covered else float("nan")
    print(
        f"live window during the backfill: {len(runs)} lake-sensor runs of {feed.symbol} today; queued+starting "
        f"{waits[len(waits) // 2]:.1f}s median, {waits[-1]:.1f}s max; a part's candles were written "
        f"{median:.0f}s median, {max(covered, default=float('nan')):.0f}s max after the part "
        f"({len(covered)} of {len(feed.written)} parts, one every {feed.every:.0f}s; "
        "the sensor refreshes a live day at most "
        f"every {os.environ.get('TICKLAKE_SENSOR_REFRESH_SECONDS', '300')}s)"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--symbols", default="EURUSD,GBPUSD")
    parser.add_argument(
        "--rate", type=float, default=0.05, help="ticks/s of the synthetic feed (seed-demo's default is 1)"
    )
    parser.add_argument("--end", default="2025-11-13")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--home", default=None, help="TICKLAKE_HOME to use (kept); default a temp folder")
    parser.add_argument("--no-plain", action="store_true", help="skip the no-Dagster comparison")
    parser.add_argument(
        "--live", default=None, metavar="SYMBOL", help="keep the lake sensor on and feed SYMBOL's today meanwhile"
    )
    args = parser.parse_args()
    home = Path(args.home or tempfile.mkdtemp(prefix="ticklake-bench-ui-")).resolve()
    end = dt.date.fromisoformat(args.end)
    start = end - dt.timedelta(days=args.days - 1)
    os.environ.update(TICKLAKE_HOME=str(home), TICKLAKE_START_DATE=start.isoformat())
    for name in ("DATABASE_URL", "TICKLAKE_LAKE_URL", "DAGSTER_PG_URL", "DAGSTER_HOME"):
        os.environ.pop(name, None)
    if args.live:
        os.environ.setdefault("TICKLAKE_SENSOR_REFRESH_SECONDS", "60")
    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
    days = [start + dt.timedelta(days=i) for i in range(args.days)]
    if not (home / "lake").is_dir():
        seed(home, args, end)

    import dagster as dg

    from ticklake_dagster.candles.database import stop_embedded_server
    from ticklake_dagster.defs.instance import prepare_dagster_env, register_symbols
    from ticklake_dagster.defs.partitions import partition_key
    from ticklake_dagster.defs.run_planning import TICKS_TO_CANDLES
    from ticklake_dagster_tests.dagster_services import dagster_services

    env = prepare_dagster_env()
    os.environ.update(env)
    keys = [str(partition_key(s, d)) for s in symbols for d in days]
    asset_keys = [k.to_user_string() for k in TICKS_TO_CANDLES]
    try:
        with dg.DagsterInstance.get() as instance:
            register_symbols(instance, symbols)
        feed = LiveFeed(args.live) if args.live else None
        keep = ("lake_sensor",) if feed else ()
        with dagster_services(env, home / "services", grpc=False, automation=False, keep_running=keep) as services:
            if feed:
                feed.start()
            launched = time.time()
            m = services.measure_backfill(asset_keys, keys, "bench_ui_backfill", args.timeout)
            if feed:
                feed.stop.set()
                with dg.DagsterInstance.get() as instance:
                    print_live(instance, feed, launched, launched + m.wall)
        status, wall, failed = m.status, m.wall, m.failed
        print(
            f"UI backfill of {len(keys)} partitions ({len(symbols)} symbols x {len(days)} days), "
            f"assets {', '.join(asset_keys)}: "
            f"{status} in {wall:.1f}s, {m.runs} runs ({len(failed)} not successful)"
        )
        m.print_events()
        m.print_timeline()
        if not args.no_plain:
            plain, ticks = plain_pipeline_seconds(symbols, days)
            print(
                f"same work through the plain functions, no Dagster: {plain:.1f}s for {ticks:,} ticks "
                f"-> Dagster's share of the backfill's wall time: {max(0.0, 1 - plain / wall):.0%}"
            )
        if failed:
            print(f"runs not successful: {failed}", file=sys.stderr)
            return 1
    finally:
        stop_embedded_server(home / "pg")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
