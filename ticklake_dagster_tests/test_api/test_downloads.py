"""/api/ticks straight from the lake, and /api/candles as CSV or Parquet, against read_ticks and the JSON answer."""

import datetime as dt
import io

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from ticklake_dagster import read_ticks
from ticklake_dagster.api import create_app
from ticklake_dagster.candles.building import build_candles
from ticklake_dagster.candles.from_lake import LakeCandles
from ticklake_dagster.candles.sql import write_day
from ticklake_dagster.ticks.compaction import compact_day
from ticklake_dagster_tests.test_api.conftest import day_start, seed, unreachable_lake

THU = dt.date(2025, 11, 13)
FRI = THU + dt.timedelta(days=1)


@pytest.fixture
def client(file_lake_resource, database):
    """Thursday compacted and in the database; Friday only as raw parts in the lake."""
    lake = file_lake_resource.get_lake()
    flavor = database.ensure_schema()
    seed(lake, "EURUSD", THU)
    seed(lake, "EURUSD", FRI)
    with database.connect() as conn:
        write_day(conn, flavor, "EURUSD", THU, build_candles(compact_day(lake, "EURUSD", THU).ticks))
    with TestClient(create_app(database, lake=LakeCandles(lake))) as client:
        yield client


def ticks(client, start, end, fmt="json", symbol="EURUSD"):
    return client.get("/api/ticks", params={"symbol": symbol, "from": start, "to": end, "format": fmt})


def test_ticks_json_csv_and_parquet_equal_read_ticks(client, file_lake_resource):
    start, end = day_start(THU) + 3600, day_start(FRI) + 7200 - 1  # across the compacted and the raw day
    expected = read_ticks(
        "EURUSD",
        pd.Timestamp(start, unit="s", tz="UTC"),
        pd.Timestamp(end + 1, unit="s", tz="UTC"),
        lake_url=file_lake_resource.url,
    )
    r = ticks(client, start, end)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    rows = r.json()
    assert [row["time"] for row in rows] == expected["ts"].astype("int64").tolist()
    assert [row["bid"] for row in rows] == expected["bid"].tolist()
    assert set(rows[0]) == {"time", "bid", "ask", "bid_volume", "ask_volume"} and rows[0]["bid_volume"] is None

    csv = pd.read_csv(io.StringIO(ticks(client, start, end, "csv").text))
    assert csv["time"].iloc[0].endswith("Z") and len(csv) == len(expected)
    assert csv["ask"].tolist() == expected["ask"].tolist()
    r = ticks(client, start, end, "parquet")
    table = pq.read_table(io.BytesIO(r.content))
    assert table.schema.field("time").type == pa.timestamp("ms", tz="UTC") and table.num_rows == len(expected)
    assert table.column("time").cast(pa.int64()).to_pylist() == expected["ts"].astype("int64").tolist()


def test_ticks_refuse_more_than_seven_days_and_bad_input(client):
    r = ticks(client, day_start(THU), day_start(THU) + 8 * 86_400)
    assert r.status_code == 400 and "at most 7 days" in r.json()["detail"]
    assert ticks(client, day_start(FRI), day_start(THU)).status_code == 400
    assert ticks(client, day_start(THU), day_start(FRI), symbol="../x").status_code == 400
    assert ticks(client, day_start(THU), day_start(FRI), fmt="xml").status_code == 400


def test_ticks_from_an_unreachable_lake_are_503(database):
    dead = unreachable_lake()
    with TestClient(create_app(database, lake=LakeCandles(dead))) as client:
        r = ticks(client, day_start(THU), day_start(THU) + 3600)
    assert r.status_code == 503


def test_candles_as_csv_and_parquet_equal_the_json(client):
    params = {"symbol": "EURUSD", "timeframe": "1h", "from": day_start(THU), "to": day_start(THU) + 86_399}
    as_json = client.get("/api/candles", params=params).json()
    csv = client.get("/api/candles", params={**params, "format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    got = pd.read_csv(io.StringIO(csv.text))
    assert list(got.columns) == ["time", "open", "high", "low", "close", "trades", "bid_volume", "ask_volume"]
    seconds = pd.to_datetime(got["time"], utc=True).dt.as_unit("s").astype("int64")
    assert seconds.tolist() == [c["time"] for c in as_json]
    assert got["close"].tolist() == [c["close"] for c in as_json]
    parquet = client.get("/api/candles", params={**params, "format": "parquet"})
    table = pq.read_table(io.BytesIO(parquet.content))
    assert table.column("trades").to_pylist() == [c["trades"] for c in as_json]
