"""The chart page scrolls back into days only the lake holds, drawing what the API builds from it; and over the
weekend after the database's Friday (the lake's Sunday evening and Monday), which takes no room."""

import datetime as dt

import httpx
import pytest

from ticklake_dagster.core.timeframes import SERVED, width_seconds
from ticklake_dagster.defs.resources import LakeResource
from ticklake_dagster.lake.keys import daily_key
from ticklake_dagster.ticks.compaction import compact_day
from ticklake_dagster_tests.factories import DAY
from ticklake_dagster_tests.test_api.conftest import day_start, seed
from ticklake_dagster_tests.test_api.test_chart_page import (  # noqa: F401
    api_candles,
    assert_draws_the_api,
    browser,
    state,
    ticklake_serve,
)

LAKE_DAY = DAY - dt.timedelta(days=1)  # the Wednesday before the database's Thursday and Friday
SUNDAY, MONDAY = DAY + dt.timedelta(days=3), DAY + dt.timedelta(days=4)  # FX reopens Sunday 17:00 New York


@pytest.fixture(scope="module")
def lake_url(filled, tmp_path_factory):
    home = tmp_path_factory.mktemp("serve-lake")
    lake = LakeResource(url=f"file://{home / 'lake'}").get_lake()
    for day in (LAKE_DAY, SUNDAY, MONDAY):
        seed(lake, "EURUSD", day)
        compact_day(lake, "EURUSD", day)
        assert lake.exists(daily_key("EURUSD", day))
    with ticklake_serve(filled.url, home) as url:
        yield url


def test_the_chart_draws_lake_days_before_the_database(browser, lake_url):  # noqa: F811
    meta = httpx.get(f"{lake_url}/api/metadata", params={"symbol": "EURUSD"}).json()
    assert (meta["lake_first_day"], meta["lake_last_day"], meta["lake_max_days"]) == (str(LAKE_DAY), str(MONDAY), 31)
    page = browser.open(f"{lake_url}/?symbol=EURUSD&timeframe=1h")
    drawn = assert_draws_the_api(page, lake_url, "EURUSD", "1h")
    times = [d["time"] for d in drawn]
    lake_hours = [t for t in times if day_start(LAKE_DAY) <= t < day_start(DAY)]
    # the lake's Wednesday, the database's Thursday and Friday (closing at 17:00 New York, 22:00 UTC), then the
    # lake's Sunday evening (from 22:00 UTC) and Monday
    assert len(lake_hours) == 24 and len(times) == 24 + 24 + 22 + 2 + 24
    _, view, _ = state(page)
    assert view["from"] <= day_start(LAKE_DAY)
    r = httpx.get(
        f"{lake_url}/api/candles",
        params={"symbol": "EURUSD", "timeframe": "1h", "from": day_start(LAKE_DAY), "to": day_start(DAY) + 3599},
    )
    assert r.headers["X-Ticklake-Lake-Days"] == str(LAKE_DAY) and len(r.json()) == 25


def adjacent_across_the_weekend(drawn: list[dict], friday_last: int, sunday_first: int) -> None:
    """Friday's last candle and the first after the weekend sit in neighbouring slots, one slot apart like every
    other pair (assert_geometry checks the equal slots)."""
    times = [d["time"] for d in drawn]
    i = times.index(friday_last)
    assert times[i + 1] == sunday_first
    slots = [b["x"] - a["x"] for a, b in zip(drawn, drawn[1:])]
    assert max(slots) - min(slots) <= 1 and slots[i] in (min(slots), max(slots))


@pytest.mark.parametrize(
    "timeframe, friday_last, sunday_first",
    [
        ("1h", day_start(DAY) + 86400 + 21 * 3600, day_start(SUNDAY) + 22 * 3600),  # Fri 21:00, Sun 22:00 UTC
        ("1d", day_start(DAY) - 2 * 3600 + 86400, day_start(SUNDAY) + 22 * 3600),  # Friday's bar, Monday's bar
    ],
)
def test_the_weekend_takes_no_room(browser, lake_url, timeframe, friday_last, sunday_first):  # noqa: F811
    page = browser.open(f"{lake_url}/?symbol=EURUSD&timeframe={timeframe}")
    drawn = assert_draws_the_api(page, lake_url, "EURUSD", timeframe)
    assert sunday_first - friday_last > 2 * 86400  # two days apart in time
    adjacent_across_the_weekend(drawn, friday_last, sunday_first)


def test_dragging_moves_by_candles_across_the_weekend(browser, lake_url):  # noqa: F811
    """A drag moves the view by slots: as many candles leave on one side as come in on the other, weekend or not."""
    page = browser.open(f"{lake_url}/?symbol=EURUSD&timeframe=1h")
    state(page)
    sunday = day_start(SUNDAY) + 22 * 3600
    page.evaluate(f"ticklakeChart.setView({sunday}, {sunday + 20 * 3600})")  # Sunday 22:00 to Monday 18:00
    before = assert_draws_the_api(page, lake_url, "EURUSD", "1h")
    assert before[0]["time"] == sunday and len(before) == 20
    box = page.evaluate(
        "(() => { const r = document.getElementById('chart').getBoundingClientRect(); return {y: r.y, w: r.width}; })()"
    )
    slot = (box["w"] - 86) / 20  # the plot's width (the canvas less its padding) over 20 slots
    page.drag(400, box["y"] + 200, 400 + 4.5 * slot)  # four and a half candles to the right
    page.wait_for(f"ticklakeChart.view().from < {sunday}")
    after = assert_draws_the_api(page, lake_url, "EURUSD", "1h")
    times = [d["time"] for d in after]
    friday_close = day_start(DAY) + 86400 + 22 * 3600
    # Friday's last five candles come in from the left (the first of them half), the last four and a half leave
    assert [t for t in times if t < sunday] == [friday_close - k * 3600 for k in range(5, 0, -1)]
    assert times[5:] == [d["time"] for d in before[:16]]


def test_panning_into_the_weekend_fetches_until_fridays_candles_sit_next_to_sundays(browser, lake_url):  # noqa: F811
    """The weekend is not loaded yet when the drag reaches it: the page fetches further back, collapsing the closed
    time it finds, until Friday's candles fill the slots left of Sunday's."""
    page = browser.open(f"{lake_url}/?symbol=EURUSD&timeframe=5m")
    state(page)
    sunday = day_start(SUNDAY) + 22 * 3600
    page.evaluate(f"ticklakeChart.setView({sunday}, {sunday + 60 * 300})")  # Sunday 22:00 to 03:00, 60 slots
    before = assert_draws_the_api(page, lake_url, "EURUSD", "5m")
    assert before[0]["time"] == sunday and len(before) == 60
    box = page.evaluate(
        "(() => { const r = document.getElementById('chart').getBoundingClientRect(); return {y: r.y, w: r.width}; })()"
    )
    page.drag(200, box["y"] + 200, 200 + 29.5 * (box["w"] - 86) / 60)  # 29.5 slots to the right
    page.wait_for(f"ticklakeChart.view().from < {sunday - 2 * 86400}")
    after = assert_draws_the_api(page, lake_url, "EURUSD", "5m")
    times = [d["time"] for d in after]
    friday_close = day_start(DAY) + 86400 + 22 * 3600
    assert [t for t in times if t < sunday] == [friday_close - k * 300 for k in range(30, 0, -1)]
    adjacent_across_the_weekend(after, friday_close - 300, sunday)


@pytest.mark.parametrize("timeframe", SERVED)
def test_every_timeframe_draws_the_apis_candles_over_the_lake_and_the_weekend(browser, lake_url, timeframe):  # noqa: F811
    page = browser.open(f"{lake_url}/?symbol=EURUSD&timeframe={timeframe}")
    drawn = assert_draws_the_api(page, lake_url, "EURUSD", timeframe)
    if width_seconds(timeframe) >= 3600:  # the first view holds every tick, Wednesday to Monday
        hours = api_candles(lake_url, "EURUSD", "1h", day_start(LAKE_DAY), day_start(MONDAY) + 86399)
        assert sum(d["trades"] for d in drawn) == sum(h["trades"] for h in hours)
