"""`ticklake lake stats`: list the lake, read footers, price the month, print text or JSON."""

import json
import sys
from types import SimpleNamespace

from ticklake_dagster.core.days import parse_day
from ticklake_dagster.core.errors import DatabaseError, InvalidInput
from ticklake_dagster.lake.report import cost_report, postgres_footprint, render_text, sensor_figures
from ticklake_dagster.lake.scan import LAKE_SENSOR_INTERVAL_SECONDS
from ticklake_dagster.lake.stats import collect_stats


def _progress(stream):
    tty = stream.isatty()

    def show(objects: int, requests: int) -> None:
        if tty:
            print(
                f"\rlisting the lake: {objects:,} objects, {requests:,} list requests", end="", file=stream, flush=True
            )
        elif objects % 100_000 == 0:
            print(f"listing the lake: {objects:,} objects, {requests:,} list requests", file=stream, flush=True)

    def done() -> None:
        if tty:
            print("\r\033[K", end="", file=stream, flush=True)

    return show, done


def _postgres(stderr):
    from ticklake_dagster.candles.database import Database

    database = Database.from_env()
    try:
        flavor = database.ensure_schema()
        with database.connect() as conn:
            return postgres_footprint(conn, flavor)
    except DatabaseError as e:
        print(f"note: no candles_5m comparison: {e}", file=stderr)
        return None


def run_stats(args) -> int:
    from ticklake_dagster.core.thresholds import thresholds_from_env
    from ticklake_dagster.lake.config import LakeConfig

    first = parse_day(args.first) if args.first else None
    last = parse_day(args.last) if args.last else None
    if first and last and last < first:
        raise InvalidInput(f"--to {last} is before --from {first}")
    lake = LakeConfig.from_env().get_lake()
    show, done = _progress(sys.stderr)
    stats = collect_stats(lake, symbols=args.symbol, first=first, last=last, progress=show)
    done()
    sensor = sensor_figures(SimpleNamespace(**thresholds_from_env()), LAKE_SENSOR_INTERVAL_SECONDS)
    postgres = None if args.no_database else _postgres(sys.stderr)
    report = cost_report(stats, sensor, postgres)
    if args.json:
        print(json.dumps({**stats.as_dict(), "cost": report.as_dict()}, indent=2))
    else:
        print(render_text(stats, report))
    return 0
