"""A local Dukascopy mirror per test, and the reference ticks the lake must hold."""

import datetime as dt
import io
import os

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from ticklake_dagster.sources.dukascopy.importer import dukascopy_part_key
from ticklake_dagster_tests.test_dukascopy.mirror import PRICES, Mirror, hour_points, serve, units


@pytest.fixture
def mirror():
    """(Mirror, bi5 base URL, json base URL) on 127.0.0.1."""
    m = Mirror()
    with serve(m) as (bi5, json_url):
        yield m, bi5, json_url


def expected_day(name: str, day: dt.date, point: float | None = None) -> pd.DataFrame:
    """The day's ticks straight from the generated integers: what any correct importer must store."""
    point = point or PRICES[name][0]
    frames = []
    for h in range(24):
        hour = dt.datetime(day.year, day.month, day.day, h, tzinfo=dt.timezone.utc)
        p = hour_points(name, hour)
        start = int(hour.timestamp()) * 1000
        frames.append(
            pd.DataFrame(
                {
                    "ts_ms": [start + int(x) for x in p["ms"]],
                    "bid": [int(x) / point for x in p["bid"]],
                    "ask": [int(x) / point for x in p["ask"]],
                    "ask_volume": [units(v) for v in p["ask_volume"]],  # bi5's millions, in units
                    "bid_volume": [units(v) for v in p["bid_volume"]],
                }
            )
        )
    return pd.concat(frames, ignore_index=True).astype({"ts_ms": "int64", "bid": "float64", "ask": "float64"})


def stored_day(lake, symbol: str, day: dt.date) -> pd.DataFrame:
    """The Dukascopy part of a symbol-day as stored, ts as epoch ms."""
    table = pq.read_table(io.BytesIO(lake.get(dukascopy_part_key(symbol, day))))
    frame = table.to_pandas()
    frame.insert(0, "ts_ms", table.column("ts").cast("int64").to_numpy())
    return frame.drop(columns=["ts"])


def assert_same_ticks(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert len(got) == len(expected)
    for column in ("ts_ms", "bid", "ask", "ask_volume", "bid_volume"):
        np.testing.assert_array_equal(got[column].to_numpy(), expected[column].to_numpy(), err_msg=column)


@pytest.fixture
def env(tmp_path):
    """The environment of a `ticklake` subprocess: no ticklake, R2 or database settings, a home of its own."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TICKLAKE_", "R2_", "DATABASE_URL"))}
    return {**clean, "TICKLAKE_HOME": str(tmp_path / "home")}
