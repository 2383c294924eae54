"""read_ticks / read_candles: the lake read back out without Dagster or a database, checked against pandas."""

import datetime as dt
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from ticklake_dagster import read_candles, read_ticks
from ticklake_dagster.core.days import day_start_ms
from ticklake_dagster.core.errors import InvalidInput
from ticklake_dagster.lake.keys import raw_part_key
from ticklake_dagster.lake.parts import ticks_to_parquet
from ticklake_dagster.sources.synthetic import generate_day
from ticklake_dagster.ticks.compaction import compact_day
from ticklake_dagster_tests.factories import reference_candles, reference_clean

WEEK = [dt.date(2025, 11, 9) + dt.timedelta(days=i) for i in range(7)]  # Sunday to Saturday
HOUR_MS = 3_600_000


@pytest.fixture
def lake_url(file_lake_resource):
    """A week of demo-generator EURUSD and BTC-USD: Monday to Thursday compacted, the rest raw parts only."""
    lake = file_lake_resource.get_lake()
    for symbol in ("EURUSD", "BTC-USD"):
        for day in WEEK:
            ts, bid, ask = generate_day(symbol, day, rate=0.05)
            if len(ts):
                lake.put(raw_part_key(symbol, day, int(ts[0]), "t"), ticks_to_parquet(ts, bid, ask))
            if dt.date(2025, 11, 10) <= day <= dt.date(2025, 11, 13):
                compact_day(lake, symbol, day)
    return file_lake_resource.url


def reference(symbol: str, days) -> pd.DataFrame:
    """The week's ticks straight from the generator, cleaned the way the reference does it."""
    frames = []
    for day in days:
        ts, bid, ask = generate_day(symbol, day, rate=0.05)
        frames.append(reference_clean(pd.DataFrame({"ts_ms": ts, "bid": bid, "ask": ask}), day))
    return pd.concat(frames, ignore_index=True)


def test_read_ticks_reads_compacted_and_raw_days_alike(lake_url):
    got = read_ticks("EURUSD", "2025-11-09", "2025-11-15", lake_url=lake_url)
    expected = reference("EURUSD", WEEK)
    assert list(got.columns) == ["ts", "bid", "ask"]  # this feed has no volumes
    assert str(got["ts"].dtype) == "datetime64[ms, UTC]"
    assert got["ts"].astype("int64").tolist() == expected["ts_ms"].tolist()
    assert got["bid"].tolist() == expected["bid"].tolist() and got["ask"].tolist() == expected["ask"].tolist()
    got.loc[0, "bid"] = 0.5  # the caller's own frame: editable, though the lake's days are read zero-copy
    one_day = read_ticks("EURUSD", "2025-11-12", lake_url=lake_url)
    one_day.loc[0, "ask"] = 2.0
    candles = read_candles("EURUSD", "1h", "2025-11-12", lake_url=lake_url)
    candles.loc[0, "close"] = 1.0
    # datetimes are [start, end) instants
    noon = dt.datetime(2025, 11, 12, 12, tzinfo=dt.timezone.utc)
    window = read_ticks("EURUSD", noon, noon + dt.timedelta(hours=1), lake_url=lake_url, columns=["ts", "bid"])
    assert list(window.columns) == ["ts", "bid"] and len(window)
    assert window["ts"].min() >= pd.Timestamp(noon) and window["ts"].max() < pd.Timestamp(noon) + pd.Timedelta("1h")


@pytest.mark.parametrize(("timeframe", "rule"), [("1m", "1min"), ("3m", "3min"), ("30m", "30min"), ("6h", "6h")])
def test_intraday_candles_equal_a_pandas_resample(lake_url, timeframe, rule):
    got = read_candles("BTC-USD", timeframe, "2025-11-12", "2025-11-14", lake_url=lake_url)
    expected = reference_candles(reference("BTC-USD", WEEK[3:6]), rule)
    assert got["time"].tolist() == expected["time"].tolist()
    for column in ("open", "high", "low", "close", "trades"):
        assert got[column].tolist() == pytest.approx(expected[column].tolist(), rel=1e-12), column


def test_bid_and_ask_candles(lake_url):
    ticks = reference("EURUSD", [WEEK[2]])
    for side in ("bid", "ask"):
        got = read_candles("EURUSD", "1h", "2025-11-11", price=side, lake_url=lake_url)
        series = pd.Series(ticks[side].to_numpy(), index=pd.to_datetime(ticks["ts_ms"], unit="ms", utc=True))
        r = series.resample("1h")
        assert got["open"].tolist() == r.first().dropna().tolist()
        assert got["high"].tolist() == r.max().dropna().tolist() and got["close"].tolist() == r.last().dropna().tolist()


def test_fx_daily_bars_close_at_17_new_york_and_a_week_has_five(lake_url):
    got = read_candles("EURUSD", "1d", "2025-11-09", "2025-11-15", lake_url=lake_url)
    # November (EST): 17:00 New York is 22:00 UTC; Sunday evening opens Monday's bar
    starts = [dt.datetime(2025, 11, d, 22, tzinfo=dt.timezone.utc) for d in (9, 10, 11, 12, 13)]
    assert got["time"].tolist() == [pd.Timestamp(s) for s in starts]
    ticks = reference("EURUSD", WEEK)
    for bar, start in zip(got.itertuples(), starts):
        lo = int(start.timestamp() * 1000)
        inside = ticks[(ticks["ts_ms"] >= lo) & (ticks["ts_ms"] < lo + 24 * HOUR_MS)]
        mid = (inside["bid"] + inside["ask"]) / 2
        assert (bar.trades, bar.open, bar.close) == (len(inside), mid.iloc[0], mid.iloc[-1])
        assert (bar.high, bar.low) == (mid.max(), mid.min())
    week = read_candles("EURUSD", "1w", "2025-11-09", "2025-11-15", lake_url=lake_url)
    assert week["time"].tolist() == [pd.Timestamp(starts[0])] and week["trades"].tolist() == [len(ticks)]


def test_crypto_days_and_weeks_are_utc(lake_url):
    days = read_candles("BTC-USD", "1d", "2025-11-09", "2025-11-15", lake_url=lake_url)
    assert days["time"].tolist() == [pd.Timestamp(d, tz="UTC") for d in WEEK]
    weeks = read_candles("BTC-USD", "1w", "2025-11-09", "2025-11-15", lake_url=lake_url)
    assert weeks["time"].tolist() == [pd.Timestamp("2025-11-03", tz="UTC"), pd.Timestamp("2025-11-10", tz="UTC")]
    assert int(weeks["trades"].sum()) == len(reference("BTC-USD", WEEK))


def test_summer_daily_bars_start_at_21_utc():
    from ticklake_dagster.candles.resample import candles_from_ticks

    monday = dt.date(2025, 7, 14)
    ts = np.array([day_start_ms(monday) - 3 * HOUR_MS + 1, day_start_ms(monday) + 20 * HOUR_MS + 59 * 60_000])
    ticks = pd.DataFrame({"ts_ms": ts, "bid": [1.0, 1.1], "ask": [1.0002, 1.1002]})
    got = candles_from_ticks(ticks, "1d", "EURUSD")
    # Sunday 21:00:00.001 UTC and Monday 20:59 UTC are both trade date Monday (EDT: 17:00 New York = 21:00 UTC)
    assert got["time"].tolist() == [pd.Timestamp("2025-07-13 21:00", tz="UTC")] and got["trades"].tolist() == [2]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda url: read_ticks("../x", "2025-11-10", lake_url=url), "Invalid symbol"),
        (lambda url: read_ticks("EURUSD", "2025-11-10", "2025-11-09", lake_url=url), "Invalid range"),
        (lambda url: read_ticks("EURUSD", "yesterday", lake_url=url), "Invalid start"),
        (lambda url: read_candles("EURUSD", "7m", "2025-11-10", lake_url=url), "Invalid timeframe"),
        (lambda url: read_candles("EURUSD", "1h", "2025-11-10", price="last", lake_url=url), "Invalid price"),
        (lambda url: read_ticks("EURUSD", "2025-11-10", columns=["volume"], lake_url=url), "Invalid columns"),
    ],
)
def test_bad_input_is_one_line(lake_url, call, message):
    with pytest.raises(InvalidInput, match=message) as raised:
        call(lake_url)
    assert "\n" not in str(raised.value)


def test_the_reader_imports_without_dagster():
    code = "import sys; from ticklake_dagster import read_ticks, read_candles; print('dagster' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
