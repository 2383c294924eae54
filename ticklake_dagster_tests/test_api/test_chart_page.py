"""The chart page in headless Chromium, served by `ticklake serve`: what it draws is what the API returns."""

import contextlib
import math
import os
import subprocess
import sys

import httpx
import pytest

from ticklake_dagster.core.timeframes import SERVED, width_seconds
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


def api_candles(base_url: str, symbol: str, timeframe: str, start: int, end: int, price: str = "mid") -> list[dict]:
    params = {"symbol": symbol, "timeframe": timeframe, "from": start, "to": end, "price": price}
    response = httpx.get(f"{base_url}/api/candles", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def api_candles_for_view(base_url: str, symbol: str, timeframe: str, view: dict, price: str = "mid") -> list[dict]:
    """What the page should draw: every candle whose span overlaps the view [from, to). A candle spans its width,
    or up to the next candle's start when that is sooner (a session bar before a closed day, a shorter month)."""
    width = width_seconds(timeframe)
    rows = api_candles(
        base_url, symbol, timeframe, math.floor(view["from"] - width) + 1, math.ceil(view["to"]) - 1, price
    )
    ends = [min(c["time"] + width, n["time"]) for c, n in zip(rows, rows[1:])] + [c["time"] + width for c in rows[-1:]]
    return [c for c, end in zip(rows, ends) if end > view["from"]]


def state(page) -> tuple[list[dict], dict, dict]:
    page.wait_for(READY)
    attrs = page.evaluate("Object.assign({}, document.getElementById('chart').dataset)")
    return page.evaluate("ticklakeChart.drawn()"), page.evaluate("ticklakeChart.view()"), attrs


def assert_draws_the_api(page, base_url: str, symbol: str, timeframe: str, price: str = "mid") -> list[dict]:
    drawn, view, attrs = state(page)
    expected = api_candles_for_view(base_url, symbol, timeframe, view, price)
    assert expected, "the view must hold candles"
    fields = ("time", "open", "high", "low", "close", "trades", "bid_volume", "ask_volume")
    assert [{k: d[k] for k in fields} for d in drawn] == [{k: e[k] for k in fields} for e in expected]
    assert (attrs["symbol"], attrs["timeframe"], attrs["price"]) == (symbol, timeframe, price)
    assert int(attrs["candleCount"]) == len(expected)
    assert (int(attrs["firstTime"]), int(attrs["lastTime"])) == (expected[0]["time"], expected[-1]["time"])
    assert_geometry(drawn)
    return drawn


def assert_geometry(drawn: list[dict]) -> None:
    """x is linear in candle index (equal slots, consecutive candles adjacent, closed time takes no room), y linear
    in price (higher price, higher on screen), each to within a pixel."""
    if len(drawn) < 2:
        return
    a, b = drawn[0], drawn[-1]
    slot = (b["x"] - a["x"]) / (len(drawn) - 1)
    assert slot > 0
    top = max(drawn, key=lambda d: d["high"])
    bottom = min(drawn, key=lambda d: d["low"])
    per_price = (bottom["yLow"] - top["yHigh"]) / (top["high"] - bottom["low"])
    assert per_price > 0
    for i, d in enumerate(drawn):
        assert abs(d["x"] - (a["x"] + i * slot)) <= 1.0, d["time"]
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
    assert timeframes == list(SERVED) and page.evaluate("document.getElementById('timeframe').value") == "1h"
    page.choose("timeframe", "1d")
    page.wait_for("document.getElementById('chart').dataset.timeframe === '1d'")
    assert len(assert_draws_the_api(page, base_url, "EURUSD", "1d")) == 2
    page.choose("symbol", "BTC-USD")
    page.wait_for("document.getElementById('chart').dataset.symbol === 'BTC-USD'")
    assert len(assert_draws_the_api(page, base_url, "BTC-USD", "1d")) == 1
    assert page.evaluate("location.search") == "?symbol=BTC-USD&timeframe=1d&price=mid"


def test_the_price_switch_draws_the_bid_in_the_same_slots(browser, base_url):
    page = browser.open(f"{base_url}/?symbol=XAUUSD&timeframe=1h")
    mid = assert_draws_the_api(page, base_url, "XAUUSD", "1h")
    assert page.evaluate("document.getElementById('price').value") == "mid"
    page.choose("price", "bid")
    page.wait_for("document.getElementById('chart').dataset.price === 'bid'")
    bid = assert_draws_the_api(page, base_url, "XAUUSD", "1h", price="bid")
    assert [(d["time"], d["x"]) for d in bid] == [(d["time"], d["x"]) for d in mid]  # the view stays
    assert all(b["low"] < m["low"] and b["high"] < m["high"] for b, m in zip(bid, mid))  # the bid is below the mid
    assert page.evaluate("location.search") == "?symbol=XAUUSD&timeframe=1h&price=bid"
    # a link names the side
    page = browser.open(f"{base_url}/?symbol=EURUSD&timeframe=15m&price=ask")
    ask = assert_draws_the_api(page, base_url, "EURUSD", "15m", price="ask")
    assert page.evaluate("document.getElementById('price').value") == "ask"
    mid = api_candles(base_url, "EURUSD", "15m", ask[0]["time"], ask[-1]["time"])
    assert all(a["low"] > m["low"] for a, m in zip(ask, mid, strict=True))


def assert_volume_bars(drawn: list[dict]) -> None:
    """One bar per candle in the pane below the candles, standing on its floor, its height proportional to the
    volume (the view's largest at the pane's full height), to within a pixel."""
    floor = {d["yVolume"] + d["volumeHeight"] for d in drawn}
    assert len(floor) == 1
    assert min(d["yVolume"] for d in drawn) > max(d["yLow"] for d in drawn)  # below the candles
    tallest = max(drawn, key=lambda d: d["volume"])
    per_unit = tallest["volumeHeight"] / tallest["volume"]
    assert tallest["volumeHeight"] > 40
    for d in drawn:
        assert abs(d["volumeHeight"] - d["volume"] * per_unit) <= 1.0, d["time"]


def test_the_volume_pane_draws_real_volumes_or_the_tick_count(browser, base_url):
    page = browser.open(f"{base_url}/?symbol=XAUUSD&timeframe=1h")
    drawn = assert_draws_the_api(page, base_url, "XAUUSD", "1h")
    assert page.evaluate("document.getElementById('chart').dataset.volumeLabel") == "volume"
    for d in drawn:
        assert d["volume"] == pytest.approx(d["bid_volume"] + d["ask_volume"]) and not d["tickVolume"]
    assert_volume_bars(drawn)
    # the bars are drawn, in the candle's colour (half transparent over the background)
    pixels = page.evaluate("""(() => {
        const ctx = document.getElementById('chart').getContext('2d');
        return ticklakeChart.drawn().map(d =>
            Array.from(ctx.getImageData(d.x, d.yVolume + (d.volumeHeight >> 1), 1, 1).data));
    })()""")
    assert all((g > r) == d["up"] for (r, g, _, _), d in zip(pixels, drawn, strict=True))

    page = browser.open(f"{base_url}/?symbol=EURUSD&timeframe=1h")  # no volumes in its ticks: the tick count
    drawn = assert_draws_the_api(page, base_url, "EURUSD", "1h")
    assert page.evaluate("document.getElementById('chart').dataset.volumeLabel") == "tick volume"
    assert all(d["volume"] == d["trades"] and d["tickVolume"] and d["bid_volume"] is None for d in drawn)
    assert_volume_bars(drawn)


def test_the_week_bars_are_drawn_and_hovered(browser, base_url):
    """1w is in the menu; its bar starts Sunday 17:00 New York (no multiple of its width), and hovering finds it."""
    page = browser.open(f"{base_url}/?symbol=EURUSD&timeframe=1h")
    state(page)
    assert "1w" in page.evaluate("Array.from(document.getElementById('timeframe').options).map(o => o.value)")
    page.choose("timeframe", "1w")
    page.wait_for("document.getElementById('chart').dataset.timeframe === '1w'")
    [week] = assert_draws_the_api(page, base_url, "EURUSD", "1w")
    assert week["time"] == 1762725600 and week["time"] % width_seconds("1w")  # 2025-11-09 22:00 UTC
    assert week["trades"] == sum(
        c["trades"] for c in api_candles(base_url, "EURUSD", "1h", week["time"], week["time"] + 604799)
    )
    box = page.evaluate("(() => { const r = document.getElementById('chart').getBoundingClientRect(); return r.y; })()")
    page.mouse("mouseMoved", week["x"], box + week["bodyTop"] + 2)
    page.wait_for("document.getElementById('hover').textContent !== ''")
    assert page.evaluate("document.getElementById('hover').textContent").startswith(
        "2025-11-10 (from 2025-11-09 22:00)  O "
    )


def test_the_first_paint_is_quick(browser, base_url, record_property):
    """From navigation start to the first drawn candles (the page's data-first-paint-ms, its performance.now())."""
    page = browser.open(f"{base_url}/?symbol=EURUSD&timeframe=5m")
    state(page)
    first_paint = int(page.evaluate("document.getElementById('chart').dataset.firstPaintMs"))
    record_property("first_paint_ms", first_paint)
    print(f"first paint: {first_paint} ms")
    assert 0 < first_paint < 2000
    assert first_paint <= page.evaluate("performance.now()")


def test_the_page_says_when_the_database_is_unreachable(browser, tmp_path):
    closed = f"postgresql://ticklake:pw@127.0.0.1:{servers.free_port()}/ticklake"
    with ticklake_serve(closed, tmp_path) as url:
        page = browser.open(f"{url}/")
        page.wait_for("document.getElementById('chart').dataset.state === 'error'")
        assert page.evaluate("document.getElementById('status').textContent") == "Database unavailable"
