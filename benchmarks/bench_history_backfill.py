"""History at scale, as a user runs it: decades of one symbol imported from a Dukascopy mirror and materialized
by one UI backfill.

A local Dukascopy-format mirror (benchmarks/bi5_mirror.py, its own process on 127.0.0.1) serves
`--ticks-per-day` ticks per trading day spread over the hours the market is open and empty bodies on FX
weekends. TICKLAKE_DUKASCOPY_URL points at it, and the backfill the asset page launches (GraphQL
`launchPartitionBackfill`) selects `dukascopy_ticks` + `history_ticks` + `history_candles` for one symbol x
every month from TICKLAKE_HISTORY_START over `--years` (TICKLAKE_START_DATE is set to the end, so every
day is the history path's). The real webserver and daemon run it on the embedded PostgreSQL.

Reported: wall time, runs, Dagster event-log rows per partition, ticks imported and candles written, a
per-run timeline (run creation gaps, queueing, run start-up vs step time), and Dagster's share of the
wall time: the same work through the plain functions (`Importer`, `compact_month`, `write_month` and the
history checks' findings, as the asset calls them) in this process, with no Dagster, on a sample of
months spread over the range (`--plain-months`, 0 = all of them) extrapolated to the whole range. Last,
an estimate for 30 symbols from these measurements.

Full size (make bench-history), then quick:

    .venv/bin/python benchmarks/bench_history_backfill.py --years 23 --ticks-per-day 10000
    .venv/bin/python benchmarks/bench_history_backfill.py --years 2
"""

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bi5_mirror import bi5_mirror  # noqa: E402

TIMEFRAMES = ("candles_5m", "candles_15m", "candles_1h", "candles_4h", "candles_12h", "candles_1d")


def month_starts(first: dt.date, end: dt.date) -> list[dt.date]:
    """The first day of every month from `first` up to (not including) `end`."""
    months, month = [], first.replace(day=1)
    while month < end:
        months.append(month)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return months


def spread_sample(items: list, n: int) -> list:
    """n items spread evenly over the list (all of them when n is 0 or not smaller)."""
    if n <= 0 or n >= len(items):
        return list(items)
    return [items[round(i * (len(items) - 1) / (n - 1))] for i in range(n)] if n > 1 else [items[len(items) // 2]]


def lake_ticks(lake_root: Path, symbol: str) -> tuple[int, int]:
    """(compacted days, ticks in them) from the footers of ticks_daily/ files."""
    import pyarrow.parquet as pq

    files = list((lake_root / "ticks_daily" / f"symbol={symbol}").glob("date=*/*.parquet"))
    return len(files), sum(pq.read_metadata(f).num_rows for f in files)


def candle_rows(database, symbol: str) -> dict[str, int]:
    with database.connect() as conn, conn.cursor() as cur:
        out = {}
        for table in TIMEFRAMES:
            cur.execute(f"SELECT count(*) FROM {table} WHERE symbol = %s", (symbol,))
            out[table] = cur.fetchone()[0]
        return out


class LoadSampler:
    """The 1-minute load average every few seconds while the backfill runs (ours and everything else on the machine)."""

    def __init__(self, every: float = 10.0):
        import threading

        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)

    def _run(self, every: float) -> None:
        while not self._stop.wait(every):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def summary(self) -> str:
        if not self.samples:
            return "n/a"
        return f"mean {statistics.mean(self.samples):.1f}, max {max(self.samples):.1f}"


def step_times(instance, backfill_id: str) -> tuple[dict[str, tuple[float, float]], float, float]:
    """Per step key (median, total) seconds over the backfill's runs; and the runs' time outside their steps
    (process start-up, resources, teardown): median per run and total."""
    import dagster as dg

    steps: dict[str, list[float]] = {}
    outside = []
    for record in instance.get_run_records(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id})):
        if not (record.start_time and record.end_time):
            continue
        worked = 0.0
        for s in instance.get_run_step_stats(record.dagster_run.run_id):
            if s.start_time and s.end_time:
                steps.setdefault(s.step_key, []).append(s.end_time - s.start_time)
                worked += s.end_time - s.start_time
        outside.append(record.end_time - record.start_time - worked)
    return (
        {k: (statistics.median(v), sum(v)) for k, v in steps.items()},
        statistics.median(outside) if outside else 0.0,
        sum(outside),
    )


def plain_pass(symbol: str, months: list[dt.date], daily_start: dt.date, base_url: str, lake_root: Path) -> dict:
    """The same months through the plain functions in this process, no Dagster: import, compact, write, check."""
    from ticklake_dagster.candles.history_path import compact_month, write_month
    from ticklake_dagster.definitions import build_resources
    from ticklake_dagster.defs.assets.dukascopy import month_days
    from ticklake_dagster.defs.assets.history import month_candles_findings, month_ticks_findings
    from ticklake_dagster.lake.storage import FileLake
    from ticklake_dagster.sources.dukascopy.feeds import get_feed
    from ticklake_dagster.sources.dukascopy.importer import Importer, ImportSource
    from ticklake_dagster.sources.dukascopy.instruments import resolve_instrument

    resources = build_resources()
    database, settings, dukascopy = resources["database"], resources["settings"], resources["dukascopy"]
    lake = FileLake(lake_root)
    flavor = database.ensure_schema()
    now = dt.datetime.now(dt.timezone.utc)
    today = now.date()
    feed = get_feed(dukascopy.feed)
    source = ImportSource(symbol, resolve_instrument(symbol), feed, base_url)
    client = dukascopy.client(feed.name)
    t0 = time.perf_counter()
    try:
        summary = Importer(lake, client, dukascopy.concurrency).run_jobs(
            [(source, month_days(m, today)) for m in months]
        )
    finally:
        client.close()
    imported = time.perf_counter() - t0
    compacted = written = 0.0
    ticks = 0
    for month in months:
        t0 = time.perf_counter()
        result = compact_month(lake, symbol, month, daily_start)
        if result.data_days:
            month_ticks_findings(result, lake, settings)
        t1 = time.perf_counter()
        with database.connect() as conn:
            result = write_month(conn, flavor, result, settings.retention_days, now)
        if result.data_days:
            month_candles_findings(result, now, settings)
        compacted += t1 - t0
        written += time.perf_counter() - t1
        ticks += result.ticks
    return {
        "import": imported,
        "compact": compacted,
        "write": written,
        "ticks": ticks,
        "imported_ticks": summary.total("ticks"),
        "months": len(months),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--years", type=int, default=2)
    parser.add_argument("--ticks-per-day", type=int, default=10_000)
    parser.add_argument("--symbol", default="EURUSD")
    parser.add_argument("--history-start", default="2003-05-01")
    parser.add_argument("--plain-months", type=int, default=24, help="months run through the plain functions (0 = all)")
    parser.add_argument("--timeout", type=float, default=7200)
    parser.add_argument("--home", default=None, help="TICKLAKE_HOME to use (kept); default a temp folder")
    args = parser.parse_args()
    home = Path(args.home or tempfile.mkdtemp(prefix="ticklake-bench-history-")).resolve()
    first = dt.date.fromisoformat(args.history_start)
    daily_start = first.replace(year=first.year + args.years)
    os.environ.update(
        TICKLAKE_HOME=str(home), TICKLAKE_HISTORY_START=first.isoformat(), TICKLAKE_START_DATE=daily_start.isoformat()
    )
    for name in ("DATABASE_URL", "TICKLAKE_LAKE_URL", "DAGSTER_PG_URL", "DAGSTER_HOME", "TICKLAKE_DUKASCOPY_FEED"):
        os.environ.pop(name, None)

    import dagster as dg

    from ticklake_dagster.candles.database import stop_embedded_server
    from ticklake_dagster.definitions import build_resources
    from ticklake_dagster.defs.assets.history import (
        HISTORY_CANDLES,
        HISTORY_SOURCE,
        HISTORY_TICKS,
        history_partition_key,
    )
    from ticklake_dagster.defs.instance import init_pools, prepare_dagster_env, register_symbols
    from ticklake_dagster_tests.dagster_services import dagster_services

    months = month_starts(first, daily_start)
    keys = [history_partition_key(args.symbol, m) for m in months]
    assets = [HISTORY_SOURCE.to_user_string(), HISTORY_TICKS.to_user_string(), HISTORY_CANDLES.to_user_string()]
    print(
        f"{os.cpu_count()} CPUs, load average {'/'.join(f'{x:.1f}' for x in os.getloadavg())}; {args.symbol} "
        f"{months[0]:%Y-%m}..{months[-1]:%Y-%m} ({len(months)} months) at {args.ticks_per_day:,} ticks "
        "per trading day; "
        f"TICKLAKE_HOME={home}"
    )
    try:
        with bi5_mirror(args.ticks_per_day, market_hours=True) as mirror:
            base = mirror.url
            os.environ["TICKLAKE_DUKASCOPY_URL"] = base
            env = prepare_dagster_env()
            os.environ.update(env)
            with dg.DagsterInstance.get() as instance:
                register_symbols(instance, [args.symbol])
                init_pools(instance)  # as `ticklake dev` does
            with dagster_services(env, home / "services", grpc=False, automation=False) as services:
                with LoadSampler() as load:
                    m = services.measure_backfill(assets, keys, "bench_history_backfill", args.timeout)
                with dg.DagsterInstance.get() as instance:
                    done = instance.get_materialized_partitions(HISTORY_CANDLES)
                    steps, outside, outside_total = step_times(instance, m.backfill_id)
            days, ticks = lake_ticks(home / "lake", args.symbol)
            candles = candle_rows(build_resources()["database"], args.symbol)
            print(
                f"UI backfill of {len(keys)} symbol-months x {', '.join(assets)} "
                f"({args.years} years of {args.symbol}): "
                f"{m.status} in {m.wall:.1f}s ({m.wall / 60:.1f} min), {m.runs} runs "
                f"({len(m.failed)} not successful), "
                f"{len(done)} months materialized; 1-minute load average during the backfill {load.summary()} "
                f"on {os.cpu_count()} CPUs"
            )
            print(
                f"imported and compacted: {ticks:,} ticks in {days:,} days; candles written: "
                + ", ".join(f"{t[8:]} {n:,}" for t, n in candles.items())
                + " (5-minute rows older than TICKLAKE_RETENTION_DAYS are dropped again, as the nightly retention does)"
            )
            m.print_events()
            m.print_timeline()
            for step, (median, total) in sorted(steps.items()):
                print(f"  step {step}: median {median:.1f}s per run, {total:.0f}s in all runs")
            print(
                f"  runs outside their steps (process start-up, resources, teardown): median {outside:.1f}s per run, "
                f"{outside_total:.0f}s in all runs"
            )

            sample = spread_sample(months, args.plain_months)
            p = plain_pass(args.symbol, sample, daily_start, base, home / "plain-lake")
        scale = len(months) / p["months"]
        plain = {k: p[k] * scale for k in ("import", "compact", "write")}
        total = sum(plain.values())
        which = (
            "all months" if p["months"] == len(months) else f"{p['months']} months spread over the range, x{scale:.1f}"
        )
        print(
            f"same work through the plain functions, no Dagster ({which}): import {plain['import']:.0f}s, "
            f"compact + tick checks {plain['compact']:.0f}s, candles + candle checks {plain['write']:.0f}s "
            f"= {total:.0f}s "
            f"for ~{p['ticks'] * scale:,.0f} ticks, one process"
        )
        print(
            f"-> the work is {total / m.wall:.0%} of the backfill's wall time; "
            "Dagster's share (bookkeeping, run and step "
            f"start-up, waiting for the daemon) {max(0.0, 1 - total / m.wall):.0%}"
        )
        per_symbol = m.wall
        print(
            f"30 symbols, same machine and settings: ~{30 * per_symbol / 3600:.1f} h (30 x this backfill's wall time; "
            f"runs of different symbols share the same 4 run slots and 2 cores, so the work adds up: "
            f"~{30 * total / 3600:.1f} h of it single-process work); "
            f"{30 * len(keys):,} partitions in ~{30 * m.runs} runs"
        )
        if m.failed:
            print(f"runs not successful: {m.failed}", file=sys.stderr)
            return 1
    finally:
        stop_embedded_server(home / "pg")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
