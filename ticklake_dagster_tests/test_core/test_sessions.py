"""The session table: FX's New York week with DST, crypto's 24/7, configured sessions and holidays."""

import datetime as dt

import pytest

from ticklake_dagster.core import sessions
from ticklake_dagster.core.days import day_start_ms
from ticklake_dagster.core.errors import InvalidInput

HOUR_MS = 3_600_000


def utc_ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc).timestamp() * 1000)


def spans(symbol: str, day: str) -> list[tuple[int, int]]:
    return sessions.open_intervals(symbol, dt.date.fromisoformat(day))


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        # winter (EST): New York 17:00 is 22:00 UTC
        ("2026-11-06", [("2026-11-06T00:00", "2026-11-06T22:00")]),  # Friday closes at 17:00 New York
        ("2026-11-07", []),  # Saturday
        ("2026-11-08", [("2026-11-08T22:00", "2026-11-09T00:00")]),  # Sunday evening opens the week
        ("2026-11-11", [("2026-11-11T00:00", "2026-11-12T00:00")]),
        # summer (EDT): 21:00 UTC
        ("2026-07-10", [("2026-07-10T00:00", "2026-07-10T21:00")]),
        ("2026-07-12", [("2026-07-12T21:00", "2026-07-13T00:00")]),
        # the Sunday the clocks go forward (2026-03-08) already opens at the summer hour
        ("2026-03-08", [("2026-03-08T21:00", "2026-03-09T00:00")]),
        # and the Sunday they go back (2026-11-01) at the winter one
        ("2026-11-01", [("2026-11-01T22:00", "2026-11-02T00:00")]),
    ],
)
def test_fx_week_runs_sunday_to_friday_17_new_york(day, expected):
    assert spans("EURUSD", day) == [(utc_ms(a), utc_ms(b)) for a, b in expected]
    assert spans("XAUUSD", day) == spans("EURUSD", day)  # metals trade the FX week


def test_crypto_trades_every_utc_day_in_full():
    for day in ("2026-11-07", "2026-11-08", "2026-12-25"):
        start = day_start_ms(dt.date.fromisoformat(day))
        for symbol in ("BTCUSD", "ETH-USD", "SOLUSDT", "FOOUSDT"):
            assert spans(symbol, day) == [(start, start + 24 * HOUR_MS)], symbol


def test_asset_classes():
    assert [sessions.asset_class(s) for s in ("EURUSD", "XAGUSD", "BTC-USD", "DOGEUSD", "AAPL.US")] == [
        "fx",
        "metals",
        "crypto",
        "crypto",
        "fx",
    ]


def test_trading_at_and_trades_on_follow_the_spans():
    assert sessions.trading_at("EURUSD", utc_ms("2026-11-08T22:00"))
    assert not sessions.trading_at("EURUSD", utc_ms("2026-11-08T21:59"))
    assert not sessions.trading_at("EURUSD", utc_ms("2026-11-06T22:00"))
    assert sessions.trades_on("EURUSD", dt.date(2026, 11, 8))
    assert not sessions.trades_on("EURUSD", dt.date(2026, 11, 7))


def test_configured_session_for_an_exchange(monkeypatch):
    monkeypatch.setenv(
        sessions.SESSIONS_ENV, "US500=America/New_York mon-fri 09:30-16:00, NK=Asia/Tokyo mon-fri 23:00-06:00"
    )
    assert sessions.asset_class("US500") == "custom"
    assert spans("US500", "2026-11-09") == [(utc_ms("2026-11-09T14:30"), utc_ms("2026-11-09T21:00"))]
    assert spans("US500", "2026-07-13") == [(utc_ms("2026-07-13T13:30"), utc_ms("2026-07-13T20:00"))]
    assert spans("US500", "2026-11-08") == []
    # past local midnight: Monday 23:00 Tokyo to Tuesday 06:00 is Monday 14:00-21:00 UTC
    assert spans("NK", "2026-11-09") == [(utc_ms("2026-11-09T14:00"), utc_ms("2026-11-09T21:00"))]


def test_holidays_close_a_trade_date(monkeypatch):
    monkeypatch.setenv(sessions.HOLIDAYS_ENV, "fx=01-01, GBPUSD=2026-11-11")
    # FX trade date 2026-11-11 is 17:00 New York on the 10th to 17:00 on the 11th
    assert spans("GBPUSD", "2026-11-10") == [(utc_ms("2026-11-10T00:00"), utc_ms("2026-11-10T22:00"))]
    assert spans("GBPUSD", "2026-11-11") == [(utc_ms("2026-11-11T22:00"), utc_ms("2026-11-12T00:00"))]
    assert spans("EURUSD", "2026-11-11") == [(utc_ms("2026-11-11T00:00"), utc_ms("2026-11-12T00:00"))]
    # a class holiday repeats every year: New Year's Day 2027 is a Friday, so the week stays closed
    assert spans("EURUSD", "2027-01-01") == []
    assert spans("BTCUSD", "2027-01-01") != []


def test_day_kind_decides_ticks_closed_hole_or_pending():
    monday = dt.date(2026, 11, 9)
    now = utc_ms("2026-11-20T00:00")
    assert sessions.day_kind("GBPUSD", monday, 10, now) == "ticks"
    assert sessions.day_kind("GBPUSD", monday, 0, now) == "hole"
    assert sessions.day_kind("GBPUSD", dt.date(2026, 11, 7), 0, now) == "closed"
    assert sessions.day_kind("GBPUSD", dt.date(2026, 11, 8), 0, now) == "hole"  # Sunday evening is open
    assert sessions.day_kind("GBPUSD", dt.date(2026, 11, 8), 0, utc_ms("2026-11-08T21:00")) == "pending"
    assert sessions.hole_reason("GBPUSD", dt.date(2026, 11, 11)) == (
        "no ticks for GBPUSD 2026-11-11, a day its market was open"
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (sessions.SESSIONS_ENV, "US500=Mars/Base mon-fri 09:30-16:00", "unknown time zone"),
        (sessions.SESSIONS_ENV, "US500=America/New_York someday 09:30-16:00", "days must be"),
        (sessions.SESSIONS_ENV, "US500=America/New_York mon-fri 9.30", "hours must be"),
        (sessions.SESSIONS_ENV, "US500", "expected SYMBOL=SESSION"),
        (sessions.HOLIDAYS_ENV, "fx=12-32", "expected YYYY-MM-DD or MM-DD"),
    ],
)
def test_bad_configuration_is_one_line(monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)
    with pytest.raises(InvalidInput, match=message) as raised:
        sessions.open_intervals("US500", dt.date(2026, 11, 9))
    assert "\n" not in str(raised.value)
