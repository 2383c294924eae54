"""Apply pending database migrations and say whether TimescaleDB or plain PostgreSQL was found."""


def add_arguments(parser) -> None:
    pass


def run(args) -> int:
    from ticklake_dagster.candles.database import Database
    from ticklake_dagster.candles.sql import mid_only_candles

    database = Database.from_env()
    report = database.migrate()
    kind = "TimescaleDB" if report.flavor == "timescaledb" else "plain PostgreSQL (no timescaledb extension)"
    print(f"Database {database.describe()}: {kind}")
    for name in report.applied:
        print(f"applied {name}")
    print(f"{len(report.applied)} migrations applied, {report.already} already in place")
    with database.connect() as conn:
        for span in mid_only_candles(conn):
            print(
                f"{span.symbol}: {span.rows:,} candles {span.first}..{span.last} were written before the bid and ask "
                f"were stored; `ticklake materialize {span.symbol} {span.first}:{span.last}` fills them from the lake"
            )
    return 0
