"""New York close daily and weekly bars across both US DST switches and a Sunday open, on plain PostgreSQL and
TimescaleDB: the served bars start where traders' rule says, and equal bars grouped from the ticks by that rule."""

import datetime as dt
import json

import pandas as pd
import pytest

from ticklake_dagster.api.sql import CandleStore
from ticklake_dagster.candles.building import build_candles
from ticklake_dagster.candles.sql import refresh_after_write, write_day
from ticklake_dagster.sources.synthetic import generate_day
from ticklake_dagster_tests.factories import reference_session_bars

# Around the March switch (Sunday 9th, 2:00 EST -> EDT) and the November one (Sunday 2nd, EDT -> EST).
DAYS = [dt.date(2025, 3, d) for d in (6, 7, 9, 10, 11)] + [dt.date(2025, 10, 30), dt.date(2025, 10, 31)]
DAYS += [dt.date(2025, 11, d) for d in (2, 3, 4)]


def utc(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%a %m-%d %H:%M")


@pytest.fixture(params=["postgres", "timescaledb"])
def filled(request):
    database = request.getfixturevalue("database" if request.param == "postgres" else "timescale_database")
    flavor = database.ensure_schema()
    frames = []
    with database.connect() as conn:
        for day in DAYS:
            ts, bid, ask = generate_day("EURUSD", day, rate=0.02)
            ticks = pd.DataFrame({"ts_ms": ts, "bid": bid, "ask": ask})
            write_day(conn, flavor, "EURUSD", day, build_candles(ticks))
            frames.append(ticks)
        refresh_after_write(conn, flavor, DAYS)
    return CandleStore(database, pooled=False), pd.concat(frames, ignore_index=True)


def bars(store: CandleStore, timeframe: str, first: dt.date, last: dt.date, price: str = "bid") -> list[dict]:
    start = int(dt.datetime.combine(first, dt.time(), dt.timezone.utc).timestamp())
    end = int(dt.datetime.combine(last, dt.time(23, 59), dt.timezone.utc).timestamp())
    return json.loads(store.candles_json("EURUSD", timeframe, start, end, 1000, price))


def test_daily_bars_close_at_17_new_york_on_both_sides_of_each_switch(filled):
    store, ticks = filled
    march = bars(store, "1d", dt.date(2025, 3, 5), dt.date(2025, 3, 12))
    # Thursday's and Friday's bars start at 22:00 UTC (EST); after Sunday's switch, 21:00 UTC (EDT). Sunday
    # evening's ticks open Monday's bar: there is no Sunday bar, and no Saturday one.
    assert [utc(c["time"]) for c in march] == [
        "Wed 03-05 22:00",
        "Thu 03-06 22:00",
        "Sun 03-09 21:00",
        "Mon 03-10 21:00",
        "Tue 03-11 21:00",
    ]
    november = bars(store, "1d", dt.date(2025, 10, 29), dt.date(2025, 11, 5))
    assert [utc(c["time"]) for c in november] == [
        "Wed 10-29 21:00",
        "Thu 10-30 21:00",
        "Sun 11-02 22:00",
        "Mon 11-03 22:00",
        "Tue 11-04 22:00",
    ]
    for served in (march, november):
        expected = reference_session_bars(ticks, "1d", "bid")
        by_time = {int(r.time.timestamp()): r for r in expected.itertuples(index=False)}
        for c in served:
            want = by_time[c["time"]]
            assert (c["open"], c["high"], c["low"], c["close"], c["trades"]) == (
                want.open,
                want.high,
                want.low,
                want.close,
                want.trades,
            )


def test_weekly_bars_run_from_sunday_17_new_york(filled):
    store, ticks = filled
    weeks = bars(store, "1w", dt.date(2025, 3, 1), dt.date(2025, 11, 5), price="ask")
    assert [utc(c["time"]) for c in weeks] == [
        "Sun 03-02 22:00",
        "Sun 03-09 21:00",
        "Sun 10-26 21:00",
        "Sun 11-02 22:00",
    ]
    expected = reference_session_bars(ticks, "1w", "ask")
    assert [c["trades"] for c in weeks] == expected["trades"].tolist()
    assert [c["close"] for c in weeks] == expected["close"].tolist()
    months = bars(store, "1M", dt.date(2025, 2, 27), dt.date(2025, 11, 5))
    assert [utc(c["time"]) for c in months] == ["Fri 02-28 22:00", "Tue 09-30 21:00", "Fri 10-31 21:00"]
