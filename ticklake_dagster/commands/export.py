"""Export ticks or candles of any range and timeframe from the lake as CSV or Parquet (`ticklake export`)."""

import argparse
import os
import sys

FORMATS = ("csv", "parquet")  # candles/output.py writes them


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="what", required=True, metavar="ticks|candles")
    for what in ("ticks", "candles"):
        p = sub.add_parser(what, help=f"export {what}", description=f"Export {what} from the lake, day by day.")
        p.add_argument("symbol", help="e.g. EURUSD")
        p.add_argument("days", metavar="START[:END]", help="UTC days YYYY-MM-DD, END inclusive")
        if what == "candles":
            p.add_argument("--timeframe", required=True, help="1m 2m 3m 5m 10m 15m 30m 1h 2h 4h 6h 12h 1d 1w 1M")
            p.add_argument("--price", default="mid", choices=("mid", "bid", "ask"), help="default mid")
        p.add_argument("--format", choices=FORMATS, help="default: from --out's extension, else csv")
        p.add_argument("--out", default="-", help="a file (written whole or not at all), or - for standard output")


def output_format(out: str, fmt: str | None) -> str:
    """--out's extension decides, else --format, else CSV."""
    from ticklake_dagster.core.errors import InvalidInput

    for name in FORMATS:
        if out != "-" and out.lower().endswith(f".{name}"):
            if fmt and fmt != name:
                raise InvalidInput(f"--format {fmt} contradicts --out {out}")
            return name
    if out == "-" and fmt == "parquet" and sys.stdout.isatty():
        raise InvalidInput("Parquet is binary: give --out FILE.parquet, or redirect standard output")
    return fmt or "csv"


def run(args) -> int:
    from ticklake_dagster.commands.exporting import export

    start, _, end = args.days.partition(":")
    fmt = output_format(args.out, args.format)
    timeframe = getattr(args, "timeframe", None)
    try:
        rows = export(
            args.what,
            args.symbol,
            start,
            end or None,
            fmt,
            args.out,
            timeframe=timeframe,
            price=getattr(args, "price", "mid"),
        )
    except BrokenPipeError:  # `| head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    if args.out != "-":
        print(f"{rows:,} {args.what} written to {args.out} ({fmt})", file=sys.stderr)
    return 0
