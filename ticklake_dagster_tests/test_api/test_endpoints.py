"""Each endpoint against real PostgreSQL filled by the materialization, checked against candles built from the ticks."""

import concurrent.futures
import datetime as dt

import psycopg2
import pytest
from fastapi.testclient import TestClient

from ticklake_dagster.api import create_app
from ticklake_dagster.api.app import MAX_LIMIT, bucket_count
from ticklake_dagster.api.sql import guarded
from ticklake_dagster.core.timeframes import BY_NAME, FROM_TICKS, PRICES, SERVED, width_seconds
from ticklake_dagster.defs.resources import DatabaseResource
from ticklake_dagster_tests import servers
from ticklake_dagster_tests.factories import DAY, fetch_candles
from ticklake_dagster_tests.test_api.conftest import FILLED, day_start

START = day_start(DAY)
END = day_start(DAY + dt.timedelta(days=2)) - 1  # the last second of the Friday


def get_candles(client, symbol="EURUSD", timeframe="1h", start=START, end=END, **extra):
    return client.get(
        "/api/candles", params={"symbol": symbol, "timeframe": timeframe, "from": start, "to": end, **extra}
    )


def assert_same_candles(got: list[dict], expected: list[dict]) -> None:
    assert [c["time"] for c in got] == [c["time"] for c in expected]
    for g, e in zip(got, expected):
        assert set(g) == set(CANDLE_FIELDS)
        assert g["trades"] == e["trades"]
        for field in ("open", "high", "low", "close", "spread_avg"):
            assert g[field] == pytest.approx(e[field], rel=1e-12), (g["time"], field)
        for field in ("bid_volume", "ask_volume"):
            assert (g[field] is None) == (e[field] is None), (g["time"], field)
            if e[field] is not None:
                assert g[field] == pytest.approx(e[field], rel=1e-12), (g["time"], field)


CANDLE_FIELDS = ("time", "open", "high", "low", "close", "trades", "spread_avg", "bid_volume", "ask_volume")


@pytest.mark.parametrize("timeframe", list(BY_NAME))
def test_candles_match_candles_built_independently_from_the_ticks(client, filled, timeframe):
    response = get_candles(client, timeframe=timeframe)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    got = response.json()
    assert got, "two days of ticks must give candles"
    assert_same_candles(got, filled.expected("EURUSD", timeframe))


@pytest.mark.parametrize("price", PRICES)
@pytest.mark.parametrize("timeframe", [tf for tf in SERVED if tf not in FROM_TICKS])
def test_every_price_side_and_timeframe_matches_the_reference(client, filled, timeframe, price):
    """Bid, ask and mid at every timeframe, with volumes, for a metal whose ticks carry them; session bars from
    two weeks before (the month's, the week's and the Thursday's bars start before the first tick's UTC day)."""
    sunday = START - 16 * 86_400
    got = get_candles(client, symbol="XAUUSD", timeframe=timeframe, start=sunday, price=price).json()
    expected = filled.expected("XAUUSD", timeframe, sunday, END, price=price)
    assert expected and expected[0]["bid_volume"] is not None
    assert_same_candles(got, expected)
    if price == "bid":  # what the chart draws by default on MT4: the bid, below the ask and the mid
        mids = get_candles(client, symbol="XAUUSD", timeframe=timeframe, start=sunday).json()
        assert all(b["low"] < m["low"] for b, m in zip(got, mids))


@pytest.mark.parametrize("price", PRICES)
@pytest.mark.parametrize("timeframe", FROM_TICKS)
def test_candles_below_5_minutes_are_built_from_the_lakes_ticks(lake_client, client, filled, timeframe, price):
    got = lake_client.get(
        "/api/candles",
        params={"symbol": "XAUUSD", "timeframe": timeframe, "from": START, "to": START + 6 * 3600, "price": price},
    )
    assert got.status_code == 200, got.text
    assert got.headers["X-Ticklake-Lake-Days"] == str(DAY)
    assert_same_candles(got.json(), filled.expected("XAUUSD", timeframe, START, START + 6 * 3600, price=price))
    without_lake = get_candles(client, symbol="XAUUSD", timeframe=timeframe)
    assert_error(without_lake, 400, f"{timeframe} candles are built from the lake's ticks, and this API serves no lake")


def test_fx_daily_bars_close_at_17_new_york_and_weeks_start_sunday(client, filled):
    """EURUSD's Thursday and Friday: the trade-date bars start at 22:00 UTC the day before (17:00 EST)."""
    got = get_candles(client, timeframe="1d", start=START - 86_400).json()
    assert [dt.datetime.fromtimestamp(c["time"], dt.timezone.utc).strftime("%a %H:%M") for c in got] == [
        "Wed 22:00",
        "Thu 22:00",
    ]
    assert_same_candles(got, filled.expected("EURUSD", "1d", START - 86_400, END))
    week = get_candles(client, timeframe="1w", start=START - 4 * 86_400).json()
    assert [dt.datetime.fromtimestamp(c["time"], dt.timezone.utc).strftime("%a %d %H:%M") for c in week] == [
        "Sun 09 22:00"
    ]
    assert week[0]["trades"] == len(filled.ticks["EURUSD"])


def test_crypto_days_are_utc_days(client, filled):
    got = get_candles(client, symbol="BTC-USD", timeframe="1d", start=START).json()
    assert [c["time"] for c in got] == [START]
    assert got[0]["trades"] == len(filled.ticks["BTC-USD"])


def test_each_symbol_gets_only_its_own_candles(client, filled):
    got = get_candles(client, symbol="BTC-USD", timeframe="15m").json()
    assert_same_candles(got, filled.expected("BTC-USD", "15m"))
    assert got[0]["open"] > 1000  # BTC prices, not EURUSD's


def test_from_and_to_are_inclusive_bucket_start_times(client, filled):
    expected = filled.expected("EURUSD", "5m")
    first, last = expected[10]["time"], expected[40]["time"]
    inclusive = get_candles(client, timeframe="5m", start=first, end=last).json()
    assert_same_candles(inclusive, expected[10:41])
    exclusive = get_candles(client, timeframe="5m", start=first + 1, end=last - 1).json()
    assert_same_candles(exclusive, expected[11:40])


def test_a_range_without_candles_is_an_empty_list(client):
    saturday = day_start(DAY + dt.timedelta(days=2))
    response = get_candles(client, start=saturday, end=saturday + 86_399)
    assert response.status_code == 200 and response.json() == []


def test_a_range_fitting_the_limit_is_served_and_one_bucket_more_is_refused(client, filled):
    expected = filled.expected("EURUSD", "5m")
    start = expected[0]["time"]
    fits = get_candles(client, timeframe="5m", start=start, end=start + 99 * 300, limit=100)
    assert fits.status_code == 200
    assert_same_candles(fits.json(), expected[:100])
    too_big = get_candles(client, timeframe="5m", start=start, end=start + 100 * 300, limit=100)
    assert too_big.status_code == 400
    assert too_big.json()["detail"].startswith("Range too large: it spans 101 5m candles and the limit is 100")


def test_the_default_limit_refuses_a_year_of_5m_candles_instead_of_truncating(client):
    response = get_candles(client, timeframe="5m", start=START, end=START + 365 * 86_400)
    assert response.status_code == 400
    assert f"the limit is {MAX_LIMIT}" in response.json()["detail"]
    assert get_candles(client, timeframe="1d", start=START, end=START + 365 * 86_400).status_code == 200


def test_bucket_count_agrees_with_enumerating_buckets():
    for start, end, width in [
        (0, 0, 300),
        (1, 299, 300),
        (299, 301, 300),
        (7, 90_000, 3_600),
        (86_400, 86_400 * 3, 86_400),
    ]:
        assert bucket_count(start, end, width) == sum(1 for t in range(start, end + 1) if t % width == 0)


def test_metadata_describes_what_the_materialization_wrote(client, filled):
    expected = filled.expected("EURUSD", "5m")
    response = client.get("/api/metadata", params={"symbol": "EURUSD"})
    assert response.status_code == 200
    assert response.json() == {
        "symbol": "EURUSD",
        "timeframes": [tf for tf in SERVED if tf not in FROM_TICKS],
        "first": expected[0]["time"],
        "last": expected[-1]["time"],
        "count": len(expected),
    }
    assert len(expected) == len(fetch_candles(filled.database, symbol="EURUSD"))


def test_symbols_lists_every_materialized_symbol(client):
    response = client.get("/api/symbols")
    assert response.status_code == 200 and response.json() == {"symbols": sorted(FILLED)}


def test_timeframes_lists_every_timeframe_with_its_width(client):
    response = client.get("/api/timeframes")
    assert response.status_code == 200
    served = [tf for tf in SERVED if tf not in FROM_TICKS]  # no lake: nothing below 5 minutes
    assert response.json() == {"timeframes": [{"name": name, "seconds": width_seconds(name)} for name in served]}
    assert [t["name"] for t in response.json()["timeframes"]][-3:] == ["1d", "1w", "1M"]


def test_health_reports_a_reachable_database(client):
    response = client.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok", "database": "postgres"}


def test_openapi_documents_the_endpoints_and_their_errors(client):
    spec = client.get("/openapi.json").json()
    assert {"/api/candles", "/api/metadata", "/api/symbols", "/api/timeframes", "/health"} <= set(spec["paths"])
    candles = spec["paths"]["/api/candles"]["get"]
    assert set(candles["responses"]) == {"200", "400", "404", "503"}
    assert {p["name"] for p in candles["parameters"]} == {
        "symbol",
        "timeframe",
        "from",
        "to",
        "limit",
        "format",
        "price",
    }
    assert "422" not in str(spec)


BAD_REQUESTS = [
    ({"timeframe": "7m"}, "Invalid timeframe specified"),
    ({"timeframe": ""}, "Invalid timeframe specified"),
    ({"timeframe": "1H"}, "Invalid timeframe specified"),
    ({"timeframe": None}, "Missing required parameter 'timeframe'"),
    ({"symbol": "eurusd"}, "Invalid symbol*"),
    ({"symbol": "EUR..USD"}, "Invalid symbol*"),
    ({"symbol": ".EURUSD"}, "Invalid symbol*"),
    ({"symbol": "A" * 33}, "Invalid symbol*"),
    ({"symbol": ""}, "Invalid symbol*"),
    ({"symbol": None}, "Missing required parameter 'symbol'"),
    ({"from": None}, "Missing required parameter 'from' (unix seconds)"),
    ({"to": None}, "Missing required parameter 'to' (unix seconds)"),
    ({"from": "yesterday"}, "Parameter 'from' must be an integer number of unix seconds*"),
    ({"to": "1.5"}, "Parameter 'to' must be an integer number of unix seconds*"),
    ({"from": ""}, "Parameter 'from' must be an integer number of unix seconds*"),
    ({"from": -1}, "Parameter 'from' must be an integer number of unix seconds*"),
    ({"to": 10**20}, "Parameter 'to' must be an integer number of unix seconds*"),
    ({"from": END, "to": START}, f"'from' ({END}) is after 'to' ({START})"),
    ({"limit": 0}, "Parameter 'limit' must be an integer from 1 to 10000*"),
    ({"limit": MAX_LIMIT + 1}, "Parameter 'limit' must be an integer from 1 to 10000*"),
    ({"limit": "many"}, "Parameter 'limit' must be an integer from 1 to 10000*"),
    ({"price": "last"}, "Invalid price 'last': expected mid, bid or ask"),
    ({"price": "BID"}, "Invalid price 'BID': expected mid, bid or ask"),
]


def assert_error(response, status: int, expected: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["detail"] and "\n" not in body["detail"]
    if expected.endswith("*"):
        assert body["detail"].startswith(expected[:-1]), body["detail"]
    else:
        assert body["detail"] == expected


@pytest.mark.parametrize(("change", "expected"), BAD_REQUESTS, ids=[str(c) for c, _ in BAD_REQUESTS])
def test_every_bad_parameter_is_a_400_with_one_line(client, change, expected):
    params = {"symbol": "EURUSD", "timeframe": "1h", "from": START, "to": END, **change}
    response = client.get("/api/candles", params={k: v for k, v in params.items() if v is not None})
    assert_error(response, 400, expected)


@pytest.mark.parametrize(
    ("params", "expected"), [({}, "Missing required parameter 'symbol'"), ({"symbol": "eur"}, "Invalid symbol*")]
)
def test_metadata_bad_symbol_is_a_400(client, params, expected):
    assert_error(client.get("/api/metadata", params=params), 400, expected)


def test_unknown_symbols_are_404(client):
    assert_error(get_candles(client, symbol="GBPUSD"), 404, "Unknown symbol GBPUSD: no candles")
    assert_error(client.get("/api/metadata", params={"symbol": "GBPUSD"}), 404, "Unknown symbol GBPUSD: no candles")
    assert_error(client.get("/api/nothing-here"), 404, "Not Found")


INJECTIONS = [
    "EURUSD' OR '1'='1",
    "EURUSD'; DROP TABLE candles_5m; --",
    'EURUSD" OR ""="',
    "') UNION SELECT 1,2,3,4,5,6 --",
    "EURUSD%",
    "%",
    "EURUSD\x00",
    "EURUSD\n",
    "ЕURUSD",  # a Cyrillic Е
    "$$; SELECT pg_sleep(5); $$",
]


@pytest.mark.parametrize("symbol", INJECTIONS, ids=[repr(s) for s in INJECTIONS])
def test_injection_attempts_in_symbol_are_refused_before_reaching_sql(client, filled, symbol):
    before = len(fetch_candles(filled.database))
    assert_error(get_candles(client, symbol=symbol), 400, "Invalid symbol*")
    assert_error(client.get("/api/metadata", params={"symbol": symbol}), 400, "Invalid symbol*")
    assert len(fetch_candles(filled.database)) == before


def test_like_wildcards_that_pass_the_symbol_rule_match_nothing(client):
    for symbol in ("EURUS_", "EURUSD_", "BTC_USD"):
        assert_error(get_candles(client, symbol=symbol), 404, f"Unknown symbol {symbol}: no candles")


def test_an_unreachable_database_is_a_503_that_does_not_leak_the_url(tmp_path):
    port = servers.free_port()
    database = DatabaseResource(
        url=f"postgresql://ticklake:s3cret-pw@127.0.0.1:{port}/ticklake", home=str(tmp_path), connect_timeout=2
    )
    with TestClient(create_app(database)) as down:
        for path, params in [
            ("/health", {}),
            ("/api/symbols", {}),
            ("/api/metadata", {"symbol": "EURUSD"}),
            ("/api/candles", {"symbol": "EURUSD", "timeframe": "1h", "from": START, "to": END}),
        ]:
            response = down.get(path, params=params)
            assert_error(response, 503, "Database unavailable")
            assert "s3cret" not in response.text and str(port) not in response.text
            assert response.headers["retry-after"] == "5"
        # parameters are still checked without a database
        assert_error(
            down.get("/api/candles", params={"symbol": "EURUSD", "timeframe": "7m", "from": 1, "to": 2}),
            400,
            "Invalid timeframe specified",
        )


def test_an_unexpected_error_answers_json_without_internals(filled, monkeypatch):
    app = create_app(filled.database)
    with TestClient(app, raise_server_exceptions=False) as c:
        monkeypatch.setattr(app.state.store, "symbols", lambda: 1 / 0)
        response = c.get("/api/symbols")
    assert_error(response, 500, "Internal server error")
    assert "ZeroDivision" not in response.text and "Traceback" not in response.text


def test_dropped_pool_connections_are_replaced_transparently(filled):
    with TestClient(create_app(filled.database, pool_size=2)) as c:
        assert c.get("/health").status_code == 200
        admin = psycopg2.connect(filled.url)
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'ticklake-api'"
            )
            assert cur.fetchone()[0] >= 1
        admin.close()
        assert c.get("/api/symbols").json() == {"symbols": sorted(FILLED)}


def test_more_concurrent_requests_than_connections_all_succeed(client, filled):
    expected = filled.expected("EURUSD", "1h")
    with TestClient(create_app(filled.database, pool_size=2)) as c:
        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            responses = list(pool.map(lambda _: get_candles(c), range(36)))
    assert {r.status_code for r in responses} == {200}
    for r in responses:
        assert_same_candles(r.json(), expected)


def test_every_api_statement_is_read_only_and_timed_out_without_touching_the_session(filled):
    conn = psycopg2.connect(filled.url)  # autocommit off, one transaction per request, as the store runs them
    try:
        with conn.cursor() as cur:
            with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):
                guarded(cur, "DELETE FROM candles_5m", None, 10_000)
            conn.rollback()
            with pytest.raises(psycopg2.errors.QueryCanceled):
                guarded(cur, "SELECT pg_sleep(2)", None, 50)
            conn.rollback()
            guarded(cur, "SELECT 1", None, 10_000)
            conn.rollback()
            cur.execute("SHOW transaction_read_only")  # a new, unguarded transaction: the settings ended
            assert cur.fetchone()[0] == "off"
            cur.execute("SHOW statement_timeout")
            assert cur.fetchone()[0] == "0"
    finally:
        conn.close()
    assert len(fetch_candles(filled.database, symbol="EURUSD")) == len(filled.expected("EURUSD", "5m"))


def test_metadata_lags_a_write_by_at_most_its_cache_time(filled):
    expected = filled.expected("EURUSD", "5m")
    late = expected[-1]["time"] + 7 * 86_400  # a candle a week after the last one
    cached, uncached = create_app(filled.database, metadata_ttl_s=3600), create_app(filled.database, metadata_ttl_s=0)
    admin = psycopg2.connect(filled.url)
    admin.autocommit = True
    try:
        with TestClient(cached) as c, TestClient(uncached) as u:
            assert c.get("/api/metadata", params={"symbol": "EURUSD"}).json()["count"] == len(expected)
            with admin.cursor() as cur:
                cur.execute("INSERT INTO candles_5m VALUES (to_timestamp(%s), 'EURUSD', 1, 1, 1, 1, 1, 0)", (late,))
            assert c.get("/api/metadata", params={"symbol": "EURUSD"}).json()["count"] == len(expected)
            fresh = u.get("/api/metadata", params={"symbol": "EURUSD"}).json()
            assert (fresh["count"], fresh["last"]) == (len(expected) + 1, late)
    finally:
        with admin.cursor() as cur:
            cur.execute("DELETE FROM candles_5m WHERE symbol = 'EURUSD' AND time = to_timestamp(%s)", (late,))
        admin.close()


def test_non_finite_candles_in_the_database_are_never_served(database):
    """Rows written before prices were bounded (or by hand) hold Infinity/NaN: the API leaves them out."""
    database.ensure_schema()
    t0 = dt.datetime(2025, 11, 13, tzinfo=dt.timezone.utc)
    with database.connect() as conn, conn.cursor() as cur:
        for i, value in enumerate(["1.1", "Infinity", "NaN", "-Infinity"]):
            cur.execute(
                "INSERT INTO candles_5m (time, symbol, open, high, low, close, trades, spread_avg) "
                "VALUES (%s, 'EURUSD', 1.1, %s::float8, 1.0, 1.1, 1, 0.0001)",
                (t0 + dt.timedelta(minutes=5 * i), value),
            )
        conn.commit()
    with TestClient(create_app(database)) as client:
        response = client.get(
            "/api/candles",
            params={
                "symbol": "EURUSD",
                "timeframe": "5m",
                "from": int(t0.timestamp()),
                "to": int(t0.timestamp()) + 3600,
            },
        )
    assert response.status_code == 200
    assert "Infinity" not in response.text and "NaN" not in response.text
    assert [c["time"] for c in response.json()] == [int(t0.timestamp())]
