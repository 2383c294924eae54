"Write realistic synthetic FX ticks into the lake as raw parts, so the demo has data (again: replaces, never doubles)."

import datetime as dt

from ticklake_dagster.core.days import parse_day
from ticklake_dagster.core.errors import InvalidInput
from ticklake_dagster.core.symbols import validate_symbol

DEFAULT_SYMBOLS = "EURUSD,GBPUSD,USDJPY"


def add_arguments(parser) -> None:
    parser.add_argument("--symbols", default=DEFAULT_SYMBOLS, help=f"comma-separated (default {DEFAULT_SYMBOLS})")
    parser.add_argument("--days", type=int, default=7, help="how many UTC days, ending with --end (default 7)")
    parser.add_argument("--end", default=None, help="last day, YYYY-MM-DD (default yesterday, UTC)")
    parser.add_argument("--rate", type=float, default=1.0, help="average ticks per second (default 1)")


def run(args) -> int:
    symbols = [validate_symbol(s.strip()) for s in args.symbols.split(",") if s.strip()]
    if not symbols:
        raise InvalidInput("--symbols needs at least one symbol")
    if not 1 <= args.days <= 366:
        raise InvalidInput(f"--days must be between 1 and 366, got {args.days}")
    if not 0 < args.rate <= 1000:
        raise InvalidInput(f"--rate must be in (0, 1000] ticks/s, got {args.rate}")
    end = parse_day(args.end) if args.end else dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)

    from ticklake_dagster.lake.config import LakeConfig
    from ticklake_dagster.lake.keys import DEMO_PART_SUFFIX, part_suffix, raw_day_prefix, raw_part_key
    from ticklake_dagster.lake.parts import ticks_to_parquet
    from ticklake_dagster.sources.synthetic import batch_bounds, generate_day

    lake = LakeConfig.from_env().get_lake()
    print(f"Seeding {', '.join(symbols)} for {args.days} days ending {end} into {lake.describe()}")
    for symbol in symbols:
        for offset in range(args.days - 1, -1, -1):
            day = end - dt.timedelta(days=offset)
            ts, bid, ask = generate_day(symbol, day, rate=args.rate)
            bounds = batch_bounds(ts)
            keys = [raw_part_key(symbol, day, int(ts[i]), DEMO_PART_SUFFIX) for i, _ in bounds]
            # Seeding again replaces the day's demo parts, never doubles them. The generator is deterministic:
            # the same --rate gives the same keys, each overwritten in place; demo parts under other keys
            # (another --rate) are deleted first.
            new = set(keys)
            stale = [
                o.key
                for o in lake.list(raw_day_prefix(symbol, day))
                if part_suffix(o.key) == DEMO_PART_SUFFIX and o.key not in new
            ]
            lake.delete_many(stale)
            lake.put_many((key, ticks_to_parquet(ts[i:j], bid[i:j], ask[i:j])) for key, (i, j) in zip(keys, bounds))
            print(
                f"{symbol} {day}: {len(ts)} ticks in {len(bounds)} parts"
                if len(ts)
                else f"{symbol} {day}: market closed"
            )
    return 0
