"""The "same ticks in the database" figure: candles_5m's measured size per tick it summarises, both flavors."""

import pytest

from ticklake_dagster.candles.building import build_candles
from ticklake_dagster.candles.sql import write_day
from ticklake_dagster.lake.report import postgres_footprint
from ticklake_dagster.ticks.validation import clean_day
from ticklake_dagster_tests.factories import DAY, random_ticks


@pytest.mark.parametrize("flavor_fixture", ["database", "timescale_database"])
def test_footprint_measures_candles_5m(flavor_fixture, request):
    database = request.getfixturevalue(flavor_fixture)
    flavor = database.ensure_schema()
    ticks = clean_day(random_ticks(7, n=20_000), DAY).ticks
    with database.connect() as conn:
        write_day(conn, flavor, "EURUSD", DAY, build_candles(ticks))
        found = postgres_footprint(conn, flavor)
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM candles_5m")
            rows = cur.fetchone()[0]
    assert found.flavor == flavor and found.ticks == len(ticks) and rows == 288
    assert found.bytes >= 8192  # at least a page of the table (chunks and indexes on TimescaleDB)
    assert found.bytes_per_tick == found.bytes / len(ticks)
