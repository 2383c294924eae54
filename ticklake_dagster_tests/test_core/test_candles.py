import numpy as np
import pandas as pd
import pytest

from ticklake_dagster.candles.building import build_candles
from ticklake_dagster.core.days import day_start_ms
from ticklake_dagster.ticks.validation import clean_day
from ticklake_dagster_tests.factories import DAY, random_ticks, reference_candles

START = day_start_ms(DAY)


def assert_matches_reference(candles: pd.DataFrame, ticks: pd.DataFrame):
    ref = reference_candles(ticks)
    assert pd.to_datetime(candles["time"], unit="ms", utc=True).tolist() == ref["time"].tolist()
    for col in ("open", "high", "low", "close"):
        assert candles[col].tolist() == ref[col].tolist(), col  # exact: same float mid, no arithmetic
    assert candles["trades"].tolist() == ref["trades"].tolist()
    np.testing.assert_allclose(candles["spread_avg"], ref["spread_avg"], rtol=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_candles_equal_pandas_resample_on_random_ticks(seed):
    ticks = clean_day(random_ticks(seed, n=20_000), DAY).ticks
    assert_matches_reference(build_candles(ticks), ticks)


def test_bucket_edges():
    ts = [START, START + 299_999, START + 300_000, START + 86_399_999]
    ticks = pd.DataFrame({"ts_ms": ts, "bid": [1.0, 2.0, 3.0, 4.0], "ask": [1.0, 2.0, 3.0, 4.0]})
    candles = build_candles(ticks)
    assert candles["time"].tolist() == [START, START + 300_000, START + 86_100_000]
    assert candles["trades"].tolist() == [2, 1, 1]
    assert candles[["open", "high", "low", "close"]].values.tolist()[0] == [1.0, 2.0, 1.0, 2.0]
    assert_matches_reference(candles, ticks)


def test_open_and_close_follow_arrival_order_within_a_millisecond():
    ticks = pd.DataFrame({"ts_ms": [START, START, START], "bid": [2.0, 1.0, 3.0], "ask": [2.0, 1.0, 3.0]})
    c = build_candles(ticks).iloc[0]
    assert (c.open, c.high, c.low, c.close, c.trades) == (2.0, 3.0, 1.0, 3.0, 3)


def test_no_ticks_no_candles():
    empty = pd.DataFrame(
        {"ts_ms": pd.Series(dtype="int64"), "bid": pd.Series(dtype="float64"), "ask": pd.Series(dtype="float64")}
    )
    assert build_candles(empty).empty


def test_unsorted_ticks_are_refused():
    with pytest.raises(ValueError):
        build_candles(pd.DataFrame({"ts_ms": [2, 1], "bid": [1.0, 1.0], "ask": [1.0, 1.0]}))
