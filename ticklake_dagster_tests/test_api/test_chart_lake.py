"""The chart page scrolls back into days only the lake holds, drawing what the API builds from it."""

import datetime as dt

import httpx
import pytest

from ticklake_dagster.defs.resources import LakeResource
from ticklake_dagster.lake.keys import daily_key
from ticklake_dagster.ticks.compaction import compact_day
from ticklake_dagster_tests.factories import DAY
from ticklake_dagster_tests.test_api.conftest import day_start, seed
from ticklake_dagster_tests.test_api.test_chart_page import assert_draws_the_api, browser, state, ticklake_serve  # noqa: F401

LAKE_DAY = DAY - dt.timedelta(days=1)  # the Wednesday before the database's Thursday and Friday


@pytest.fixture(scope="module")
def lake_url(filled, tmp_path_factory):
    home = tmp_path_factory.mktemp("serve-lake")
    lake = LakeResource(url=f"file://{home / 'lake'}").get_lake()
    seed(lake, "EURUSD", LAKE_DAY)
    compact_day(lake, "EURUSD", LAKE_DAY)
    assert lake.exists(daily_key("EURUSD", LAKE_DAY))
    with ticklake_serve(filled.url, home) as url:
        yield url


def test_the_chart_draws_lake_days_before_the_database(browser, lake_url):  # noqa: F811
    meta = httpx.get(f"{lake_url}/api/metadata", params={"symbol": "EURUSD"}).json()
    assert (meta["lake_first_day"], meta["lake_last_day"], meta["lake_max_days"]) == (str(LAKE_DAY), str(LAKE_DAY), 31)
    page = browser.open(f"{lake_url}/?symbol=EURUSD&timeframe=1h")
    drawn = assert_draws_the_api(page, lake_url, "EURUSD", "1h")
    times = [d["time"] for d in drawn]
    lake_hours = [t for t in times if day_start(LAKE_DAY) <= t < day_start(DAY)]
    # the lake's Wednesday, then the database's Thursday and Friday (closing at 17:00 New York, 22:00 UTC)
    assert len(lake_hours) == 24 and len(times) == 24 + 24 + 22
    _, view, _ = state(page)
    assert view["from"] <= day_start(LAKE_DAY)
    r = httpx.get(
        f"{lake_url}/api/candles",
        params={"symbol": "EURUSD", "timeframe": "1h", "from": day_start(LAKE_DAY), "to": day_start(DAY) + 3599},
    )
    assert r.headers["X-Ticklake-Lake-Days"] == str(LAKE_DAY) and len(r.json()) == 25
