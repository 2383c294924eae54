"""Apply pending database migrations and say whether TimescaleDB or plain PostgreSQL was found."""


def add_arguments(parser) -> None:
    pass


def run(args) -> int:
    from ticklake_dagster.candles.database import Database

    database = Database.from_env()
    report = database.migrate()
    kind = "TimescaleDB" if report.flavor == "timescaledb" else "plain PostgreSQL (no timescaledb extension)"
    print(f"Database {database.describe()}: {kind}")
    for name in report.applied:
        print(f"applied {name}")
    print(f"{len(report.applied)} migrations applied, {report.already} already in place")
    return 0
