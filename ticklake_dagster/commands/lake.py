"""Inspect the lake: `ticklake lake stats` prints coverage, size, ticks and a monthly storage bill."""


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="lake_command", required=True, metavar="SUBCOMMAND")
    stats = sub.add_parser(
        "stats",
        help="coverage, objects, bytes, ticks and the monthly R2 bill per symbol",
        description="Coverage, objects, bytes, ticks and the monthly R2 bill per symbol, from "
        "listings and Parquet footers (never the tick data itself).",
    )
    stats.add_argument("--symbol", action="append", help="only this symbol (repeatable; default every symbol)")
    stats.add_argument("--from", dest="first", metavar="DAY", help="first UTC day, YYYY-MM-DD")
    stats.add_argument("--to", dest="last", metavar="DAY", help="last UTC day, YYYY-MM-DD")
    stats.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    stats.add_argument(
        "--no-database", action="store_true", help="skip the candles_5m size comparison (no database connection)"
    )


def run(args) -> int:
    from ticklake_dagster.commands.lake_stats import run_stats

    return run_stats(args)
