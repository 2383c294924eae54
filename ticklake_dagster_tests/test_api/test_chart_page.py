"""The chart page in headless Chromium, served by `ticklake serve`: what it draws is what the API returns."""

import contextlib
import math
import os
import subprocess
import sys

import httpx
import pytest

from ticklake_dagster.core.timeframes import BY_NAME
from ticklake_dagster_tests import servers
from ticklake_dagster_tests.test_api.browser import Browser
from ticklake_dagster_tests.test_api.conftest import FILLED

UP, DOWN = [38, 166, 154, 255], [239, 83, 80, 255]  # #26a69a, #ef5350
READY = "document.getElementById('chart').dataset.state === 'ready'"


@contextlib.contextmanager
def ticklake_serve(database_url: str, home):
    port = servers.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TICKLAKE_", "DATABASE_URL"))}
    env.update(TICKLAKE_HOME=str(home), DATABASE_URL=database_url)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ticklake_dagster.commands.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        servers.wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def base_url(filled, tmp_path_factory):
    with ticklake_serve(filled.url, tmp_path_factory.mktemp("serve")) as url:
        yield url


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    b = Browser(tmp_path_factory.mktemp("chromium"))
    yield b
    b.close()


def api_candles_for_view(base_url: str, symbol: str, timeframe: str, view: dict) -> list[dict]:
    """What the page should draw: every candle whose bucket overlaps the view [from, to)."""
    width = BY_NAME[timeframe].seconds
    params = {
        "symbol": symbol,
        "timeframe": timeframe,
        "from": math.floor(view["from"] - width) + 1,
        "to": math.ceil(view["to"]) - 1,
    }
    response = httpx.get(f"{base_url}/api/candles", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def state(page) -> tuple[list[dict], dict, dict]:
    page.wait_for(READY)
    attrs = page.evaluate("Object.assign({}, document.getElementById('chart').dataset)")
    return page.evaluate("ticklakeChart.drawn()"), page.evaluate("ticklakeChart.view()"), attrs


def assert_draws_the_api(page, base_url: str, symbol: str, timeframe: str) -> list[dict]:
    drawn, view, attrs = state(page)
    expected = api_candles_for_view(base_url, symbol, timeframe, view)
    assert expected, "the view must hold candles"
    fields = ("time", "open", "high", "low", "close", "trades")
    assert [{k: d[k] for k in fields} for d in drawn] == [{k: e[k] for k in fields} for e in expected]
    assert (attrs["symbol"], attrs["timeframe"]) == (symbol, timeframe)
    assert int(attrs["candleCount"]) == len(expected)
    assert (int(attrs["firstTime"]), int(attrs["lastTime"])) == (expected[0]["time"], expected[-1]["time"])
    assert_geometry(drawn)
    return drawn


def assert_geometry(drawn: list[dict]) -> None:
    """x is linear in time, y linear in price (higher price, higher on screen), each to within a pixel."""
    if len(drawn) < 2:
        return
    a, b = drawn[0], drawn[-1]
    per_second = (b["x"] - a["x"]) / (b["time"] - a["time"])
    assert per_second > 0
    top = max(drawn, key=lambda d: d["high"])
    bottom = min(drawn, key=lambda d: d["low"])
    per_price = (bottom["yLow"] - top["yHigh"]) / (top["high"] - bottom["low"])
    assert per_price > 0
    for d in drawn:
        assert abs(d["x"] - (a["x"] + (d["time"] - a["time"]) * per_second)) <= 1.0
        for price, y in (("high", "yHigh"), ("low", "yLow"), ("open", "yOpen"), ("close", "yClose")):
            assert abs(d[y] - (top["yHigh"] + (top["high"] - d[price]) * per_price)) <= 1.0, (d["time"], price)


def test_serve_answers_health_and_serves_the_page_and_its_assets(base_url):
    assert httpx.get(f"{base_url}/health").json() == {"status": "ok", "database": "postgres"}
    page = httpx.get(f"{base_url}/")
    assert page.status_code == 200 and '<canvas id="chart"' in page.text
    assert "http" not in page.text.replace("http-equiv", ""), "the page must load nothing from elsewhere"
    script = httpx.get(f"{base_url}/static/chart.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "http" not in script.text


def test_the_chart_draws_exactly_the_apis_candles_in_the_right_colours(browser, base_url, filled):
    page = browser.open(f"{base_url}/?symbol=EURUSD&timeframe=1h")
    drawn = assert_draws_the_api(page, base_url, "EURUSD", "1h")
    # two days of 1h candles fit the first view: all 48 are drawn, as built from the ticks
    assert [d["time"] for d in drawn] == [c["time"] for c in filled.expected("EURUSD", "1h")]
    pixels = page.evaluate("""(() => {
        const ctx = document.getElementById('chart').getContext('2d');
        return ticklakeChart.drawn().map(d =>
            Array.from(ctx.getImageData(d.x, d.bodyTop + (d.bodyHeight >> 1), 1, 1).data));
    })()""")
    assert pixels == [UP if d["close"] >= d["open"] else DOWN for d in drawn]
    assert {tuple(p) for p in pixels} == {tuple(UP), tuple(DOWN)}  # a random walk has both


def test_the_wheel_zooms_and_dragging_pans_fetching_what_comes_into_view(browser, base_url):
    page = browser.open(f"{base_url}/?symbol=EURUSD&timeframe=5m")
    first, view, _ = state(page)
    assert_draws_the_api(page, base_url, "EURUSD", "5m")
    box = page.evaluate(
        "(() => { const r = document.getElementById('chart').getBoundingClientRect();"
        " return {x: r.x, y: r.y, w: r.width, h: r.height}; })()"
    )
    cx, cy = box["x"] + box["w"] / 2, box["y"] + box["h"] / 2

    page.wheel(cx, cy, -400)  # zoom in around the centre
    page.wait_for(f"ticklakeChart.view().to - ticklakeChart.view().from < {view['to'] - view['from']}")
    zoomed = assert_draws_the_api(page, base_url, "EURUSD", "5m")
    zoomed_view = page.evaluate("ticklakeChart.view()")
    assert len(zoomed) < len(first)
    assert zoomed_view["from"] > view["from"] and zoomed_view["to"] < view["to"]

    page.drag(cx, cy, cx + 300)  # drag right: earlier candles come in from the left
    page.wait_for(f"ticklakeChart.view().from < {zoomed_view['from']}")
    panned_view = page.evaluate("ticklakeChart.view()")
    span = zoomed_view["to"] - zoomed_view["from"]
    assert panned_view["to"] - panned_view["from"] == pytest.approx(span)
    assert zoomed_view["from"] - panned_view["from"] == pytest.approx(300 / (box["w"] - 86) * span, rel=0.05)
    assert_draws_the_api(page, base_url, "EURUSD", "5m")

    # keep panning well past what the first request loaded (the view plus one span each side)
    first_loaded_from = view["from"] - (view["to"] - view["from"])
    for _ in range(10):
        if page.evaluate("ticklakeChart.view().to") < first_loaded_from:
            break
        page.drag(cx - 400, cy, cx + 400)
    assert page.evaluate("ticklakeChart.view().to") < first_loaded_from
    far = assert_draws_the_api(page, base_url, "EURUSD", "5m")
    assert far[-1]["time"] < first_loaded_from


def test_the_pickers_switch_symbol_and_timeframe(browser, base_url):
    page = browser.open(f"{base_url}/?symbol=EURUSD&timeframe=1h")
    state(page)
    options = page.evaluate("Array.from(document.getElementById('symbol').options).map(o => o.value)")
    assert options == sorted(FILLED)
    timeframes = page.evaluate("Array.from(document.getElementById('timeframe').options).map(o => o.value)")
    assert timeframes == list(BY_NAME) and page.evaluate("document.getElementById('timeframe').value") == "1h"
    page.evaluate(
        "(() => { const s = document.getElementById('timeframe'); s.value = '1d';"
        " s.dispatchEvent(new Event('change')); })()"
    )
    page.wait_for("document.getElementById('chart').dataset.timeframe === '1d'")
    assert len(assert_draws_the_api(page, base_url, "EURUSD", "1d")) == 2
    page.evaluate(
        "(() => { const s = document.getElementById('symbol'); s.value = 'BTC-USD';"
        " s.dispatchEvent(new Event('change')); })()"
    )
    page.wait_for("document.getElementById('chart').dataset.symbol === 'BTC-USD'")
    assert len(assert_draws_the_api(page, base_url, "BTC-USD", "1d")) == 1
    assert page.evaluate("location.search") == "?symbol=BTC-USD&timeframe=1d"


def test_the_page_says_when_the_database_is_unreachable(browser, tmp_path):
    closed = f"postgresql://ticklake:pw@127.0.0.1:{servers.free_port()}/ticklake"
    with ticklake_serve(closed, tmp_path) as url:
        page = browser.open(f"{url}/")
        page.wait_for("document.getElementById('chart').dataset.state === 'error'")
        assert page.evaluate("document.getElementById('status').textContent") == "Database unavailable"
