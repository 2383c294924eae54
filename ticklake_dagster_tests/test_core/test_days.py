import datetime as dt

import pytest

from ticklake_dagster.core.days import day_of_ms, day_start_ms, parse_day, parse_day_range
from ticklake_dagster.core.errors import InvalidInput


def test_range_is_inclusive():
    assert parse_day_range("2025-11-13:2025-11-15") == [
        dt.date(2025, 11, 13),
        dt.date(2025, 11, 14),
        dt.date(2025, 11, 15),
    ]
    assert parse_day_range("2025-11-13") == [dt.date(2025, 11, 13)]


@pytest.mark.parametrize(
    "text",
    [
        "2025-13-01",
        "2025-02-30",
        "20251113",
        "yesterday",
        "",
        "2025-11-13:",
        "2025-11-15:2025-11-13",
        "2000-01-01:2030-01-01",
        "2025-W10-3",
        "2025-W10-3:2025-03-07",
        "２０２５-11-13",
        "2025-11-1\n",
        "9999-12-31",
        "9999-12-30:9999-12-31",
    ],
)
def test_bad_dates_and_ranges_are_one_line_errors(text):
    with pytest.raises(InvalidInput) as e:
        parse_day_range(text)
    assert "\n" not in str(e.value)


def test_day_boundaries_are_utc():
    day = dt.date(2025, 11, 13)
    start = day_start_ms(day)
    assert start == int(dt.datetime(2025, 11, 13, tzinfo=dt.timezone.utc).timestamp() * 1000)
    assert day_of_ms(start) == day and day_of_ms(start - 1) == day - dt.timedelta(days=1)
    assert parse_day("2025-11-13") == day


def test_the_last_supported_day_is_9999_12_30():
    """Its end (the next midnight) is the last instant Python's datetime represents."""
    assert parse_day("9999-12-30") == dt.date(9999, 12, 30)
    with pytest.raises(InvalidInput, match="9999-12-30"):
        parse_day("9999-12-31")
