"""Candles beyond retention: days dropped from the database are served from the lake, equal to what was there."""

import datetime as dt
import itertools
import threading
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from ticklake_dagster.api import create_app
from ticklake_dagster.candles.building import build_candles
from ticklake_dagster.candles.from_lake import DayCache, DayCandles, LakeCandles
from ticklake_dagster.candles.sql import write_day
from ticklake_dagster.core.timeframes import BY_NAME, CANDLE_COLUMNS, PRICES, ROLLUPS, SERVED
from ticklake_dagster.defs.resources import TicklakeSettings
from ticklake_dagster.defs.retention import candle_retention_job
from ticklake_dagster.lake.keys import daily_key
from ticklake_dagster.ticks.compaction import compact_day
from ticklake_dagster_tests.factories import instance_with_symbols, materialize_day
from ticklake_dagster_tests.test_api.conftest import day_start, seed, unreachable_lake

THU = dt.date(2025, 11, 13)
FRI = THU + dt.timedelta(days=1)
# the demo generator fills every open 5 minutes; Friday's week ends at 17:00 New York, 22:00 UTC in November
FRIDAY_CANDLES = 22 * 12
THU_AND_FRI_CANDLES = 288 + FRIDAY_CANDLES
ROLLUP_TABLES = [tf.relation for tf in ROLLUPS]
TIMEFRAMES = list(BY_NAME)


def get(client, timeframe, start, end, symbol="EURUSD", price="mid"):
    params = {"symbol": symbol, "timeframe": timeframe, "from": start, "to": end, "price": price}
    return client.get("/api/candles", params=params)


@pytest.fixture
def materialized(file_lake_resource, database):
    """Two FX days seeded, materialized through Dagster; the lake keeps them after retention."""
    lake = file_lake_resource.get_lake()
    instance = instance_with_symbols("EURUSD")
    for day in (THU, FRI):
        seed(lake, "EURUSD", day)
        assert materialize_day(file_lake_resource, database, "EURUSD", day, instance=instance).success
    return lake


@pytest.fixture
def written(file_lake_resource, database):
    """The same two days written by the pipeline's functions directly (faster than a Dagster run each)."""
    lake = file_lake_resource.get_lake()
    flavor = database.ensure_schema()
    with database.connect() as conn:
        for day in (THU, FRI):
            seed(lake, "EURUSD", day)
            write_day(conn, flavor, "EURUSD", day, build_candles(compact_day(lake, "EURUSD", day).ticks))
    return lake


def assert_same_rollups(got: list[dict], expected: list[dict], timeframe: str) -> None:
    """Equal to the database's, exactly, but for spread_avg: a tick-weighted mean summed in another order."""
    assert [{k: v for k, v in c.items() if k != "spread_avg"} for c in got] == [
        {k: v for k, v in c.items() if k != "spread_avg"} for c in expected
    ], timeframe
    assert [c["spread_avg"] for c in got] == pytest.approx([c["spread_avg"] for c in expected], rel=1e-12)


def test_days_dropped_by_retention_come_from_the_lake_unchanged(materialized, database):
    start, end = day_start(THU), day_start(FRI + dt.timedelta(days=1)) - 1
    lake = LakeCandles(materialized)
    with TestClient(create_app(database, lake=lake)) as client:
        before = {}
        for tf in TIMEFRAMES:
            r = get(client, tf, start, end)
            assert r.status_code == 200 and "X-Ticklake-Lake-Days" not in r.headers  # the database holds both days
            before[tf] = r.json()
        sunday = start - 4 * 86_400
        sides = {(tf, p): get(client, tf, sunday, end, price=p).json() for tf in SERVED for p in PRICES}
        assert [len(sides[tf, "bid"]) for tf in ("1d", "1w")] == [2, 1]  # Thursday's and Friday's; their week
        assert len(before["5m"]) == THU_AND_FRI_CANDLES and lake.cache.builds == 0

        assert candle_retention_job.execute_in_process(
            resources={"database": database, "settings": TicklakeSettings(retention_days=30)}
        ).success
        with database.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM candles_5m")
            assert cur.fetchone()[0] == 0

        r = get(client, "5m", start, end)
        assert r.status_code == 200, r.text
        assert r.headers["X-Ticklake-Lake-Days"] == f"{THU},{FRI}"
        assert r.json() == before["5m"]
        # a window inside one day: only that day is built and served
        r = get(client, "5m", start + 3600, start + 7200)
        assert r.headers["X-Ticklake-Lake-Days"] == str(THU)
        assert r.json() == [c for c in before["5m"] if start + 3600 <= c["time"] <= start + 7200]

        # retention keeps the higher timeframes; without them every timeframe is built from the lake
        with database.connect() as conn, conn, conn.cursor() as cur:
            for table in ROLLUP_TABLES:
                cur.execute(f"DELETE FROM {table}")
        for tf in TIMEFRAMES:
            r = get(client, tf, start, end)
            assert r.status_code == 200, r.text
            assert r.headers["X-Ticklake-Lake-Days"] == f"{THU},{FRI}"
            assert_same_rollups(r.json(), before[tf], tf)
        for tf, price in itertools.product(SERVED, PRICES):  # every side and the session bars, from the lake
            r = get(client, tf, sunday, end, price=price)
            assert r.headers["X-Ticklake-Lake-Days"] == f"{THU},{FRI}", (tf, price)
            assert_same_rollups(r.json(), sides[tf, price], f"{tf} {price}")
        assert lake.cache.builds == 2  # each day built once, every timeframe rolled up from it

        meta = client.get("/api/metadata", params={"symbol": "EURUSD"}).json()
        assert (meta["lake_first_day"], meta["lake_last_day"]) == (str(THU), str(FRI))
        assert meta["count"] == 0 and meta["first"] == start and meta["last"] == end - 299


def test_a_session_bar_half_in_the_database_and_half_in_the_lake_is_whole(written, database):
    """Thursday only in the lake, Friday in the database: the week's bar and Friday's (which starts Thursday
    17:00 New York) roll up both sources into the bars the database gave when it held both days."""
    sunday, end = day_start(THU) - 4 * 86_400, day_start(FRI) + 86_399
    with TestClient(create_app(database)) as client:
        whole = {(tf, p): get(client, tf, sunday, end, price=p).json() for tf in ("1d", "1w") for p in PRICES}
    with database.connect() as conn, conn, conn.cursor() as cur:
        for relation in ("candles_5m", *ROLLUP_TABLES):
            cur.execute(f"DELETE FROM {relation} WHERE time < %s", (dt.datetime(2025, 11, 14, tzinfo=dt.timezone.utc),))
    with TestClient(create_app(database, lake=LakeCandles(written))) as client:
        for (tf, price), expected in whole.items():
            r = get(client, tf, sunday, end, price=price)
            assert r.headers["X-Ticklake-Lake-Days"] == str(THU)
            assert_same_rollups(r.json(), expected, f"{tf} {price}")


def test_a_day_the_database_holds_is_served_from_it(written, database):
    """Days in the database never touch the lake; the lake fills only the days the database lacks."""
    with database.connect() as conn, conn, conn.cursor() as cur:
        cur.execute("DELETE FROM candles_5m WHERE time < %s", (dt.datetime(2025, 11, 14, tzinfo=dt.timezone.utc),))
    lake = LakeCandles(written)
    with TestClient(create_app(database, lake=lake)) as client:
        r = get(client, "5m", day_start(THU), day_start(FRI) + 86_399)
        assert r.headers["X-Ticklake-Lake-Days"] == str(THU)
        assert len(r.json()) == THU_AND_FRI_CANDLES
        times = [c["time"] for c in r.json()]
        assert times == sorted(times) and len(set(times)) == len(times)
        r = get(client, "5m", day_start(FRI), day_start(FRI) + 86_399)
        assert "X-Ticklake-Lake-Days" not in r.headers
        assert lake.cache.builds == 1


def test_the_day_limit_and_symbols_only_the_lake_holds(file_lake_resource, database):
    lake = file_lake_resource.get_lake()
    days = [dt.date(2025, 11, 10) + dt.timedelta(days=i) for i in range(3)]
    for d in days:
        seed(lake, "ETH-USD", d)
        compact_day(lake, "ETH-USD", d)
    with TestClient(create_app(database, lake=LakeCandles(lake, max_days=2))) as client:
        r = get(client, "1h", day_start(days[0]), day_start(days[2]) + 86_399, symbol="ETH-USD")
        assert r.status_code == 400
        assert r.json()["detail"] == (
            "Range needs 3 days from the lake (2025-11-10..2025-11-12) and at most 2 are built "
            "per request (TICKLAKE_ONDEMAND_MAX_DAYS); narrow from/to"
        )
        r = get(client, "1h", day_start(days[1]), day_start(days[2]) + 86_399, symbol="ETH-USD")
        assert r.status_code == 200 and len(r.json()) == 48
        assert sum(c["trades"] for c in r.json()) > 0
        r = get(client, "1h", day_start(days[2]) + 86_400, day_start(days[2]) + 2 * 86_400, symbol="ETH-USD")
        assert r.status_code == 200 and r.json() == []  # known to the lake, nothing in this range
        meta = client.get("/api/metadata", params={"symbol": "ETH-USD"}).json()
        assert meta["lake_first_day"] == "2025-11-10" and meta["timeframes"] == list(SERVED)
        assert get(client, "1h", 0, 3600, symbol="XRP-USD").status_code == 404


def test_an_unreachable_lake_is_503_never_a_partial_series(written, database):
    dead = unreachable_lake()
    with database.connect() as conn, conn, conn.cursor() as cur:
        cur.execute("DELETE FROM candles_5m WHERE time < %s", (dt.datetime(2025, 11, 14, tzinfo=dt.timezone.utc),))
    with TestClient(create_app(database, lake=LakeCandles(dead))) as client:
        r = get(client, "5m", day_start(THU), day_start(FRI) + 86_399)
        assert r.status_code == 503 and r.headers["Retry-After"] == "5"
        assert r.json() == {"detail": "Lake unavailable: the range needs days only the lake holds; retry later"}
        # the database holds every open-market day of this range: no need for the lake
        r = get(client, "5m", day_start(FRI), day_start(FRI) + 2 * 86_400 - 1)  # Friday and the closed Saturday
        assert r.status_code == 200 and len(r.json()) == FRIDAY_CANDLES
        meta = client.get("/api/metadata", params={"symbol": "EURUSD"}).json()
        assert "lake_first_day" not in meta
    # listed, then unreadable: the whole answer fails
    lake = LakeCandles(written)
    with TestClient(create_app(database, lake=lake)) as client:
        lake.index.days("EURUSD")
        written.delete(daily_key("EURUSD", THU))
        r = get(client, "5m", day_start(THU), day_start(FRI) + 86_399)
        assert r.status_code == 503


def test_an_s3_lake_serves_the_same_candles(s3_lake_resource, file_lake_resource, database):
    file_lake, s3_lake = file_lake_resource.get_lake(), s3_lake_resource.get_lake()
    seed(file_lake, "BTC-USD", THU)
    compact_day(file_lake, "BTC-USD", THU)
    key = daily_key("BTC-USD", THU)
    s3_lake.put(key, file_lake.get(key))
    answers = []
    for lake in (file_lake, s3_lake):
        with TestClient(create_app(database, lake=LakeCandles(lake))) as client:
            r = get(client, "15m", day_start(THU), day_start(THU) + 86_399, symbol="BTC-USD")
            assert r.status_code == 200 and r.headers["X-Ticklake-Lake-Days"] == str(THU)
            answers.append(r.json())
    assert answers[0] == answers[1] and len(answers[0]) == 96


def _day(n: int) -> DayCandles:
    columns = {c: np.ones(n) for c in CANDLE_COLUMNS}
    columns.update(time=np.arange(n, dtype="int64") * 300, trades=np.ones(n, dtype="int64"))
    return DayCandles(columns)


def test_the_cache_is_bounded_in_bytes():
    one = _day(288).nbytes
    cache = DayCache(max_bytes=int(2.5 * one))
    for i in range(5):
        cache.get(i, lambda: _day(288))
    assert len(cache) == 2 and cache.bytes == 2 * one <= cache.max_bytes
    cache.get(3, lambda: pytest.fail("day 3 is cached"))
    cache.get(0, lambda: _day(288))  # evicted earlier: built again, and 4 (least recently used) goes
    assert cache.builds == 6 and len(cache) == 2
    cache.get(5, lambda: _day(100_000))  # larger than the whole cache: served, never stored
    assert len(cache) == 2 and cache.bytes <= cache.max_bytes


def test_concurrent_requests_for_a_day_build_it_once():
    cache = DayCache()
    calls, results = [], []
    start = threading.Barrier(8)

    def build():
        calls.append(1)
        time.sleep(0.2)
        return _day(288)

    def request():
        start.wait()
        results.append(cache.get(("EURUSD", THU), build))

    threads = [threading.Thread(target=request) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(results) == 8 and all(r is results[0] for r in results)


def test_a_failed_build_is_not_cached_and_reaches_every_waiter():
    cache = DayCache()
    with pytest.raises(ValueError):
        cache.get("k", lambda: (_ for _ in ()).throw(ValueError("boom")))
    assert len(cache) == 0 and cache.get("k", lambda: _day(3))["time"].tolist() == [0, 300, 600]


def test_timescaledb_days_dropped_by_retention_equal_the_lake(file_lake_resource, timescale_database):
    """Retention drops candles_5m chunks; the lake's candles equal what the hypertable and every aggregate held."""
    lake = file_lake_resource.get_lake()
    seed(lake, "EURUSD", THU)
    assert materialize_day(file_lake_resource, timescale_database, "EURUSD", THU).success
    start, end = day_start(THU), day_start(THU) + 86_399
    built = LakeCandles(lake)
    # PGlite takes one connection at a time: the API's pool is closed while the retention job runs
    with TestClient(create_app(timescale_database, pool_size=1, lake=built)) as client:
        before = {tf: get(client, tf, start, end).json() for tf in TIMEFRAMES}
    assert len(before["5m"]) == 288 and built.cache.builds == 0
    assert candle_retention_job.execute_in_process(
        resources={"database": timescale_database, "settings": TicklakeSettings(retention_days=30)}
    ).success
    built = LakeCandles(lake)
    with TestClient(create_app(timescale_database, pool_size=1, lake=built)) as client:
        r = get(client, "5m", start, end)
        assert r.headers["X-Ticklake-Lake-Days"] == str(THU) and r.json() == before["5m"]
        for tf, width in (
            (t.name, t.seconds) for t in BY_NAME.values()
        ):  # the aggregates still hold the day; the lake agrees with them
            r = get(client, tf, start, end)
            assert r.json() == before[tf], tf
            from_lake = built.candles("EURUSD", [THU], width)
            for column in ("time", "open", "high", "low", "close", "trades"):
                assert from_lake[column].tolist() == [c[column] for c in before[tf]], (tf, column)


def test_concurrent_api_requests_for_a_lake_day_build_it_once(file_lake_resource, database):
    lake = file_lake_resource.get_lake()
    seed(lake, "ETH-USD", THU)
    compact_day(lake, "ETH-USD", THU)
    built = LakeCandles(lake)
    answers = []
    with TestClient(create_app(database, lake=built)) as client:
        go = threading.Barrier(len(TIMEFRAMES))

        def request(tf):
            go.wait()
            answers.append(get(client, tf, day_start(THU), day_start(THU) + 86_399, symbol="ETH-USD"))

        threads = [threading.Thread(target=request, args=(tf,)) for tf in TIMEFRAMES]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(len(a.json()) for a in answers) == [2, 6, 24, 96, 288]
    assert all(a.headers["X-Ticklake-Lake-Days"] == str(THU) for a in answers)
    assert built.cache.builds == 1


def test_a_lake_day_with_an_overflowing_price_never_serves_non_finite_json(file_lake_resource, database):
    """A compacted day written before prices were bounded holds 1.7e308 quotes: their mid overflows to
    Infinity. The API answers strict JSON, leaving those candles out."""
    import json

    import pandas as pd

    from ticklake_dagster.lake.parts import daily_table, table_to_parquet

    lake = file_lake_resource.get_lake()
    start_ms = day_start(THU) * 1000
    ticks = pd.DataFrame({"ts_ms": [start_ms + 1, start_ms + 600_000], "bid": [1.7e308, 1.0], "ask": [1.79e308, 1.1]})
    lake.put(daily_key("ETH-USD", THU), table_to_parquet(daily_table(ticks)))
    with TestClient(create_app(database, lake=LakeCandles(lake))) as client:
        r = get(client, "5m", day_start(THU), day_start(THU) + 86_399, symbol="ETH-USD")
    assert r.status_code == 200
    candles = json.loads(r.text, parse_constant=lambda name: pytest.fail(f"non-finite {name} in the answer"))
    assert [c["time"] for c in candles] == [day_start(THU) + 600]
