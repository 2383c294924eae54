"""Import historical ticks into the lake (`ticklake import dukascopy SYMBOL[,SYMBOL...] START[:END]`)."""

import argparse
import datetime as dt
import sys

from ticklake_dagster.core.days import day_runs, parse_day
from ticklake_dagster.core.settings import start_date

MAX_IMPORT_DAYS = 366 * 40
MAX_RUNS_SHOWN = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sources = parser.add_subparsers(dest="source", required=True, metavar="SOURCE")
    p = sources.add_parser(
        "dukascopy",
        help="Dukascopy's free tick history, one raw part per symbol-day",
        description="Fetch Dukascopy ticks hour by hour and write one raw part per symbol-day into the lake. "
        "Days already imported are skipped, so an interrupted import resumes where it stopped.",
    )
    p.add_argument("symbols", metavar="SYMBOL[,SYMBOL...]", help="Dukascopy instruments, e.g. EURUSD,USDJPY,XAUUSD")
    p.add_argument("days", metavar="START[:END]", help="UTC days YYYY-MM-DD, END inclusive and before today")
    p.add_argument(
        "--feed",
        choices=("json", "bi5"),
        default=None,
        help="the JSON API (default, or TICKLAKE_DUKASCOPY_FEED) or bi5 datafeed files (mirrors, old caches)",
    )
    p.add_argument(
        "--url",
        default=None,
        help="the feed's base URL, e.g. a mirror (default TICKLAKE_DUKASCOPY_URL, "
        "else https://datafeed.dukascopy.com/datafeed or https://jetta.dukascopy.com/v1)",
    )
    p.add_argument(
        "--as",
        dest="lake_symbol",
        metavar="LAKE_SYMBOL",
        default=None,
        help="store under this lake symbol (one instrument only)",
    )
    p.add_argument(
        "--point-value",
        type=float,
        default=None,
        metavar="F",
        help="price = feed integer / F, for instruments not in the built-in table",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=None,
        metavar="N",
        help="requests in flight (default 8, or TICKLAKE_DUKASCOPY_CONCURRENCY)",
    )
    p.add_argument(
        "--processes",
        type=int,
        default=None,
        metavar="N",
        help="worker processes that decode and encode days (default one per core from 28 days on, "
        "else 0: all in this process)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="re-import days already imported, and replace the live ingester's parts on days that have them",
    )
    p.add_argument("--dry-run", action="store_true", help="show what would be fetched; fetch and write nothing")


def parse_import_days(text: str, today: dt.date) -> list[dt.date]:
    """START[:END] as `ticklake materialize` reads it; only whole UTC days (before today) can be imported."""
    from ticklake_dagster.core.days import parse_day_range
    from ticklake_dagster.core.errors import InvalidInput

    start_text, sep, end_text = text.partition(":")
    start, end = parse_day(start_text), parse_day(end_text) if sep else parse_day(start_text)
    if start >= today:
        raise InvalidInput(f"Invalid range {text!r}: it is in the future (today is {today} UTC)")
    if end >= today:
        raise InvalidInput(
            f"Invalid range {text!r}: {end} is not over yet; the last whole UTC day is {today - dt.timedelta(days=1)}"
        )
    return parse_day_range(text, max_days=MAX_IMPORT_DAYS)


def run(args) -> int:
    from ticklake_dagster.core.errors import InvalidInput
    from ticklake_dagster.core.symbols import validate_symbol
    from ticklake_dagster.lake.config import LakeConfig
    from ticklake_dagster.sources.dukascopy.config import DukascopyConfig
    from ticklake_dagster.sources.dukascopy.feeds import get_feed
    from ticklake_dagster.sources.dukascopy.importer import DONE, FAILED, IMPORTED, LIVE, Importer, ImportSource, plan
    from ticklake_dagster.sources.dukascopy.instruments import resolve_instrument

    names = list(dict.fromkeys(s.strip() for s in args.symbols.split(",")))
    for name in names:
        validate_symbol(name)
    if args.lake_symbol is not None:
        validate_symbol(args.lake_symbol)
        if len(names) != 1:
            raise InvalidInput("--as stores one instrument under another lake symbol: give exactly one SYMBOL")
    days = parse_import_days(args.days, dt.datetime.now(dt.timezone.utc).date())
    instruments = [resolve_instrument(name, args.point_value) for name in names]
    if args.concurrency is not None and not 1 <= args.concurrency <= 64:
        raise InvalidInput(f"Invalid --concurrency {args.concurrency}: expected 1 to 64 requests in flight")
    if args.processes is not None and not 0 <= args.processes <= 64:
        raise InvalidInput(f"Invalid --processes {args.processes}: expected 0 to 64 worker processes")
    settings = DukascopyConfig.from_env()
    feed = get_feed(args.feed or settings.feed)
    base = settings.base_url(feed.name, args.url)
    concurrency = args.concurrency if args.concurrency is not None else settings.concurrency
    sources = [ImportSource(args.lake_symbol or inst.name, inst, feed, base) for inst in instruments]
    lake = LakeConfig.from_env().get_lake()
    print(
        f"Importing {', '.join(s.symbol for s in sources)} {days[0]}:{days[-1]} from {base} ({feed.name}) into "
        f"{lake.describe()}, {concurrency} requests in flight",
        flush=True,
    )

    if args.dry_run:
        total = 0
        for source in sources:
            todo, skipped = plan(lake, source, days, args.overwrite)
            live = sum(1 for o in skipped if o.status == LIVE)
            total += len(todo)
            print(
                f"{source.symbol}: {len(todo)} days to import ({len(todo) * 24} requests), "
                f"{len(skipped) - live} already imported, {live} skipped (live parts)"
            )
        print(f"dry run: {total} days, {total * 24} requests; nothing fetched or written")
        return 0

    client = settings.client(feed.name, concurrency)
    progress = _Progress(len(sources) * len(days)) if sys.stdout.isatty() else None

    def on_day(outcome) -> None:
        if outcome.status == FAILED:
            _log(progress, f"{outcome.symbol} {outcome.day}: FAILED {outcome.reason}", err=True)
        elif outcome.status == IMPORTED:
            replaced = f", replaced {len(outcome.replaced)} live parts" if outcome.replaced else ""
            _log(
                progress,
                f"{outcome.symbol} {outcome.day}: {outcome.ticks} ticks, {outcome.empty_hours} empty hours"
                f"{replaced} -> {outcome.key}",
                quiet=progress is not None,
            )
        elif outcome.status == LIVE:
            _log(
                progress,
                f"{outcome.symbol} {outcome.day}: skipped, the day holds the live ingester's parts "
                "(--overwrite replaces them)",
            )
        if progress:
            progress.advance(outcome)

    importer = Importer(lake, client, concurrency, overwrite=args.overwrite, on_day=on_day, processes=args.processes)
    try:
        summary = importer.run(sources, days)
    except KeyboardInterrupt:
        if progress:
            progress.stop()
        print("interrupted: every day written is whole; run the same command again to resume", file=sys.stderr)
        return 130
    finally:
        if progress:
            progress.stop()
        client.close()
    print(summary.line())
    for outcome in summary.failed:
        print(f"failed: {outcome.symbol} {outcome.day}: {outcome.reason}", file=sys.stderr)
    imported = sorted({(o.symbol, o.day) for o in summary.outcomes if o.status in (IMPORTED, DONE)})
    for line in next_steps(imported, parse_day(start_date())):
        print(line)
    return 1 if summary.failed else 0


def next_steps(symbol_days: list[tuple[str, dt.date]], daily_start: dt.date) -> list[str]:
    """What to run next for the days now in the lake: their candles (daily window or history months), then the chart.

    The lake sensor would find the days within the hour; these commands build them now.
    """
    if not symbol_days:
        return []
    lines = ["next:"]
    for symbol in sorted({s for s, _ in symbol_days}):
        days = sorted(d for s, d in symbol_days if s == symbol)
        recent = [d for d in days if d >= daily_start]
        older = [d for d in days if d < daily_start]
        runs = day_runs(recent)
        for first, last in runs[:MAX_RUNS_SHOWN]:
            lines.append(
                f"  candles: .venv/bin/ticklake materialize {symbol} {first}:{last}   "
                f"(or in the UI: Assets > candles_5m > Materialize > partitions {symbol}, {first} to {last})"
            )
        if len(runs) > MAX_RUNS_SHOWN:
            lines.append(f"  ... and {len(runs) - MAX_RUNS_SHOWN} more ranges of days")
        if older:
            first, last = older[0].replace(day=1), older[-1].replace(day=1)
            lines.append(
                f"  history: in the UI, select history_ticks and history_candles > Materialize > partitions "
                f"{symbol}, months {first:%Y-%m} to {last:%Y-%m}   (days before TICKLAKE_START_DATE={daily_start})"
            )
        lines.append(f"  chart: .venv/bin/ticklake serve, then http://127.0.0.1:8000/?symbol={symbol}&timeframe=1h")
    return lines


def _log(progress, text: str, err: bool = False, quiet: bool = False) -> None:
    if progress is not None:
        if not quiet:
            progress.console.print(text, markup=False, highlight=False)
        return
    print(text, file=sys.stderr if err else sys.stdout, flush=True)


class _Progress:
    """A terminal progress bar: days done, ticks, megabytes written, ETA."""

    def __init__(self, total_days: int):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("days"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[ticks]:,} ticks  {task.fields[mb]:.1f} MB"),
            TimeRemainingColumn(),
            transient=True,
        )
        self.console = self.progress.console
        self.task = self.progress.add_task("import", total=total_days, ticks=0, mb=0.0)
        self.ticks, self.mb = 0, 0.0
        self.progress.start()

    def advance(self, outcome) -> None:
        self.ticks += outcome.ticks
        self.mb += outcome.bytes_written / 1e6
        self.progress.update(self.task, advance=1, ticks=self.ticks, mb=self.mb)

    def stop(self) -> None:
        self.progress.stop()
