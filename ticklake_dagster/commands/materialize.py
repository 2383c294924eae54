"""Materialize r2_ticks and candles_5m for a symbol and a day or an inclusive START:END range."""

import contextlib

from ticklake_dagster.days import parse_day_range
from ticklake_dagster.errors import NoTickFiles
from ticklake_dagster.symbols import validate_symbol


def add_arguments(parser) -> None:
    parser.add_argument("symbol", help="e.g. EURUSD")
    parser.add_argument("days", metavar="DATE|START:END", help="a UTC day (YYYY-MM-DD) or an inclusive range")
    parser.add_argument("--dry-run", action="store_true", help="read and build everything, write nothing")


def run(args) -> int:
    symbol = validate_symbol(args.symbol)
    days = parse_day_range(args.days)

    from ticklake_dagster.candles import build_candles
    from ticklake_dagster.pipeline import compact_day, refresh_after_write, write_day
    from ticklake_dagster.resources import DatabaseResource, LakeResource

    lake = LakeResource.from_env().get_lake()
    database = None if args.dry_run else DatabaseResource.from_env()
    flavor = database.ensure_schema() if database else None
    print(f"Lake {lake.describe()}" + ("" if database is None else f", database {database.describe()}"))
    written, days_with_data = [], 0
    with database.connect() if database else contextlib.nullcontext() as conn:
        for day in days:
            result = compact_day(lake, symbol, day, write=not args.dry_run)
            print(f"{symbol} {day}: found {result.parts} tick files")
            if result.parts == 0:
                continue
            days_with_data += 1
            rejected = ", ".join(f"{n} {r}" for r, n in result.clean.rejected.items() if n) or "none"
            print(f"{symbol} {day}: merged {len(result.ticks)} ticks "
                  f"(rejected: {rejected}; duplicates removed: {result.clean.duplicates})")
            candles = build_candles(result.ticks)
            print(f"{symbol} {day}: built {len(candles)} candles")
            if conn is None:
                print(f"{symbol} {day}: dry run, nothing written")
                continue
            stats = write_day(conn, flavor, symbol, day, candles)
            written.append(day)
            print(f"{symbol} {day}: {stats.inserted} rows inserted, {stats.updated} updated, "
                  f"{stats.removed} removed in candles_5m")
        refresh_after_write(conn, flavor, written)
    if days_with_data == 0:
        span = str(days[0]) if len(days) == 1 else f"{days[0]}:{days[-1]}"
        raise NoTickFiles(f"No tick files found for {symbol} on {span}")
    return 0
