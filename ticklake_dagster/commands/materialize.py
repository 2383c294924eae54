"""Materialize r2_ticks and candles_5m for a symbol and a day or an inclusive START:END range."""

import contextlib
import re
from pathlib import Path

from ticklake_dagster.core.days import parse_day_range
from ticklake_dagster.core.errors import NoTickFiles, TicklakeError
from ticklake_dagster.core.symbols import validate_symbol


def add_arguments(parser) -> None:
    parser.add_argument("symbol", help="e.g. EURUSD")
    parser.add_argument("days", metavar="DATE|START:END", help="a UTC day (YYYY-MM-DD) or an inclusive range")
    parser.add_argument("--dry-run", action="store_true", help="read and build everything, write nothing")


def run(args) -> int:
    symbol = validate_symbol(args.symbol)
    days = parse_day_range(args.days)

    from ticklake_dagster.candles.building import build_candles
    from ticklake_dagster.candles.database import Database
    from ticklake_dagster.candles.sql import refresh_after_write, write_day
    from ticklake_dagster.core.sessions import CLOSED_DAY_METADATA, hole_reason, trades_on
    from ticklake_dagster.core.settings import configured_dagster_home
    from ticklake_dagster.lake.config import LakeConfig
    from ticklake_dagster.ticks.compaction import compact_day

    lake = LakeConfig.from_env().get_lake()
    database = None if args.dry_run else Database.from_env()
    dagster_home = None if database is None else configured_dagster_home()
    flavor = database.ensure_schema() if database else None
    print(f"Lake {lake.describe()}" + ("" if database is None else f", database {database.describe()}"))
    written, days_with_data, holes = [], 0, []
    with database.connect() if database else contextlib.nullcontext() as conn:
        for day in days:
            result = compact_day(lake, symbol, day, write=not args.dry_run)
            if result.parts == 0:
                closed = not trades_on(symbol, day)
                print(f"{symbol} {day}: found 0 tick files ({'market closed' if closed else 'market open: a hole'})")
                if not closed:
                    holes.append(day)
                elif conn is not None:  # recorded as done, like a run records it
                    written.append(
                        (day, (dict(CLOSED_DAY_METADATA), dict(CLOSED_DAY_METADATA)) if dagster_home else None)
                    )
                continue
            print(f"{symbol} {day}: found {result.parts} tick files")
            days_with_data += 1
            rejected = ", ".join(f"{n} {r}" for r, n in result.clean.rejected.items() if n) or "none"
            print(
                f"{symbol} {day}: merged {len(result.ticks)} ticks "
                f"(rejected: {rejected}; duplicates removed: {result.clean.duplicates})"
            )
            candles = build_candles(result.ticks)
            print(f"{symbol} {day}: built {len(candles)} candles")
            if conn is None:
                print(f"{symbol} {day}: dry run, nothing written")
                continue
            assert flavor is not None  # a connection means a database, whose schema gave the flavor
            stats = write_day(conn, flavor, symbol, day, candles)
            written.append((day, asset_metadata(result, candles, stats, flavor) if dagster_home else None))
            print(
                f"{symbol} {day}: {stats.inserted} rows inserted, {stats.updated} updated, "
                f"{stats.removed} removed in candles_5m"
            )
        refresh_after_write(conn, flavor, [day for day, _ in written])
    if written and dagster_home:
        report_to_dagster(symbol, [(day, *metadata) for day, metadata in written if metadata is not None], dagster_home)
    if holes:
        more = f" (and {len(holes) - 1} more open days without ticks)" if len(holes) > 1 else ""
        raise NoTickFiles(f"No tick files found: {hole_reason(symbol, holes[0])}{more}")
    if days_with_data == 0:
        print(f"{symbol}: the market was closed on every day asked for; nothing to build")
    return 0


def asset_metadata(result, candles, stats, flavor: str) -> tuple[dict, dict]:
    """What r2_ticks and candles_5m record for this day; imports Dagster, so built only when there is an instance."""
    from ticklake_dagster.defs.metadata import candles_metadata, ticks_metadata

    return ticks_metadata(result), candles_metadata([candles], [stats], flavor)


def report_to_dagster(symbol: str, written: list, home: Path) -> None:
    """Show the days just written on the Dagster UI's partition pages (the configured Dagster instance in `home`)."""
    from ticklake_dagster.defs.instance import open_configured_instance, report_materialized_days

    try:
        with open_configured_instance() as instance:
            assert instance is not None  # the caller found the configured Dagster home
            report_materialized_days(instance, symbol, written)
    except TicklakeError:
        raise
    except Exception as e:
        reason = re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", (str(e).strip().splitlines() or [""])[0])
        raise TicklakeError(
            f"Candles written, but reporting them to the Dagster instance in {home} failed: "
            f"{type(e).__name__}: {reason}"
        ) from None
    print(f"Reported {len(written)} partition(s) of r2_ticks and candles_5m to the Dagster instance in {home}")
