"""The same API over TimescaleDB, where every timeframe above 5m is a continuous aggregate."""

import datetime as dt

from fastapi.testclient import TestClient

from ticklake_dagster.api import create_app
from ticklake_dagster.core.timeframes import FROM_TICKS, INTRADAY, SERVED
from ticklake_dagster_tests.factories import DAY, materialize_day
from ticklake_dagster_tests.test_api.conftest import day_start, seed
from ticklake_dagster_tests.test_api.test_endpoints import assert_same_candles


def test_the_api_reads_continuous_aggregates_like_plain_tables(file_lake_resource, timescale_database, filled):
    seed(file_lake_resource.get_lake(), "EURUSD", DAY)  # the same synthetic day the plain database holds
    assert materialize_day(file_lake_resource, timescale_database, "EURUSD", DAY).success
    start, end = day_start(DAY), day_start(DAY + dt.timedelta(days=1)) - 1
    # pool_size=1: the PGlite TimescaleDB test server takes one connection at a time
    with TestClient(create_app(timescale_database, pool_size=1)) as client:
        assert client.get("/health").json() == {"status": "ok", "database": "timescaledb"}
        for timeframe in [tf for tf in INTRADAY if tf not in FROM_TICKS]:  # stored, and rolled up at query time
            response = client.get(
                "/api/candles", params={"symbol": "EURUSD", "timeframe": timeframe, "from": start, "to": end}
            )
            assert response.status_code == 200, response.text
            assert_same_candles(response.json(), filled.expected("EURUSD", timeframe, start, end))
        metadata = client.get("/api/metadata", params={"symbol": "EURUSD"}).json()
        assert metadata == {
            "symbol": "EURUSD",
            "timeframes": [tf for tf in SERVED if tf not in FROM_TICKS],  # no lake: nothing below 5 minutes
            "first": start,
            "last": end - 299,
            "count": 288,
        }
        assert client.get("/api/symbols").json() == {"symbols": ["EURUSD"]}
        assert client.get("/api/metadata", params={"symbol": "BTC-USD"}).status_code == 404
