"""The lake layout is a public interface: DuckDB and Polars read it as docs/lake.md shows, and what they compute
agrees with `read_ticks` and `read_candles` field by field."""

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pytest

from ticklake_dagster import read_candles, read_ticks
from ticklake_dagster.lake.keys import raw_part_key
from ticklake_dagster.lake.parts import ticks_to_parquet
from ticklake_dagster.lake.storage import FileLake
from ticklake_dagster.ticks.compaction import compact_day
from ticklake_dagster_tests.factories import random_ticks

DAYS = [dt.date(2025, 11, 13), dt.date(2025, 11, 14)]


@pytest.fixture
def lake(tmp_path) -> tuple[FileLake, str]:
    """Two EURUSD days with volumes and one XAUUSD day, compacted as r2_ticks writes them."""
    lake = FileLake(tmp_path / "lake")
    for symbol, days in (("EURUSD", DAYS), ("XAUUSD", DAYS[:1])):
        for i, day in enumerate(days):
            ticks = random_ticks(i + (10 if symbol == "XAUUSD" else 0), day, n=4000)
            rng = np.random.default_rng(i)
            volumes = [rng.uniform(1e5, 5e6, len(ticks)).round() for _ in range(2)]
            part = ticks_to_parquet(
                ticks["ts_ms"].to_numpy(), ticks["bid"].to_numpy(), ticks["ask"].to_numpy(), *volumes
            )
            lake.put(raw_part_key(symbol, day, int(ticks["ts_ms"].min()), suffix="t"), part)
            compact_day(lake, symbol, day)
    return lake, f"file://{tmp_path / 'lake'}"


def test_duckdb_reads_the_compacted_days_as_read_ticks_does(lake):
    store, url = lake
    glob = f"{store.root}/ticks_daily/*/*/*.parquet"
    counts = duckdb.sql(
        f"SELECT symbol, date::VARCHAR AS date, count(*) AS n FROM read_parquet('{glob}', hive_partitioning=true)"
        " GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    ours = [(s, str(d), len(read_ticks(s, d, d, lake_url=url))) for s, d in [("EURUSD", DAYS[0]), ("EURUSD", DAYS[1])]]
    ours.append(("XAUUSD", str(DAYS[0]), len(read_ticks("XAUUSD", DAYS[0], lake_url=url))))
    assert counts == ours
    theirs = duckdb.sql(
        f"SELECT ts, bid, ask, bid_volume, ask_volume FROM read_parquet('{glob}', hive_partitioning=true)"
        " WHERE symbol = 'EURUSD' ORDER BY ts, bid, ask"
    ).df()
    ticks = read_ticks("EURUSD", DAYS[0], DAYS[-1], lake_url=url).sort_values(["ts", "bid", "ask"], ignore_index=True)
    assert (
        theirs["ts"].dt.tz_convert("UTC").dt.as_unit("ms").astype("int64").tolist()
        == ticks["ts"].astype("int64").tolist()
    )
    for column in ("bid", "ask", "bid_volume", "ask_volume"):
        np.testing.assert_array_equal(theirs[column].to_numpy(), ticks[column].to_numpy(), err_msg=column)


def test_duckdb_sql_bid_candles_equal_read_candles(lake):
    """5-minute bid candles in DuckDB SQL (time_bucket, arg_min/arg_max by time and row) against read_candles."""
    store, url = lake
    theirs = duckdb.sql(
        f"""
        SELECT time_bucket(INTERVAL 5 MINUTE, ts) AS time, arg_min(bid, (ts, file_row_number)) AS open,
               max(bid) AS high, min(bid) AS low, arg_max(bid, (ts, file_row_number)) AS close, count(*) AS trades,
               sum(bid_volume) AS bid_volume, sum(ask_volume) AS ask_volume
        FROM read_parquet('{store.root}/ticks_daily/symbol=EURUSD/*/*.parquet', file_row_number = true)
        GROUP BY ALL ORDER BY time
        """
    ).df()
    ours = read_candles("EURUSD", "5m", DAYS[0], DAYS[-1], price="bid", lake_url=url)
    assert len(theirs) == len(ours) > 500
    assert (
        theirs["time"].dt.tz_convert("UTC").dt.as_unit("ms").astype("int64").tolist()
        == ours["time"].astype("int64").tolist()
    )
    # first/last by time, ties (ticks of one millisecond) by their order in the day's file, as ticklake's
    for column in ("open", "high", "low", "close", "trades", "bid_volume", "ask_volume"):
        np.testing.assert_array_equal(theirs[column].to_numpy(), ours[column].to_numpy(), err_msg=column)


def test_polars_scans_the_lake_as_the_docs_show(lake):
    store, url = lake
    frame = (
        pl.scan_parquet(f"{store.root}/ticks_daily/**/*.parquet", hive_partitioning=True)
        .group_by("symbol")
        .len()
        .sort("symbol")
        .collect()
    )
    expected = {"EURUSD": len(read_ticks("EURUSD", DAYS[0], DAYS[-1], lake_url=url)), "XAUUSD": 0}
    expected["XAUUSD"] = len(read_ticks("XAUUSD", DAYS[0], lake_url=url))
    assert dict(zip(frame["symbol"].to_list(), frame["len"].to_list())) == expected
    eurusd = pl.read_parquet(f"{store.root}/ticks_daily/symbol=EURUSD/date={DAYS[0]}/ticks.parquet")
    ticks = read_ticks("EURUSD", DAYS[0], lake_url=url)
    assert eurusd["bid"].to_list() == ticks["bid"].tolist()
    assert pd.Series(eurusd["ask_volume"].to_numpy()).equals(ticks["ask_volume"].reset_index(drop=True))
