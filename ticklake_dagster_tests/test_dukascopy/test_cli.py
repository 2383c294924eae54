"""`ticklake import dukascopy` as a user runs it: a subprocess against a local mirror, then `ticklake materialize`."""

import datetime as dt
import json
import signal
import subprocess
import sys
import time

import pytest

from ticklake_dagster.api.sql import CandleStore
from ticklake_dagster.defs.resources import DatabaseResource
from ticklake_dagster.lake.storage import FileLake
from ticklake_dagster.sources.dukascopy.importer import dukascopy_part_key
from ticklake_dagster_tests.factories import fetch_candles, reference_candles, reference_clean
from ticklake_dagster_tests.servers import terminal_sigint
from ticklake_dagster_tests.test_cli.test_commands import assert_one_line_error
from ticklake_dagster_tests.test_dukascopy.conftest import assert_same_ticks, expected_day, stored_day
from ticklake_dagster_tests.test_dukascopy.mirror import PRICES, hour_points, units

SYMBOLS = ("EURUSD", "USDJPY", "XAUUSD", "BTCUSD")


def ticklake(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "ticklake_dagster.commands.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_import_fills_the_lake_exactly_resumes_and_materializes_into_candles(env, mirror, tmp_path, database_url):
    """The default feed (the JSON API) fills the lake with the generated ticks, volumes in units."""
    m, _, json_url = mirror
    proc = ticklake(env, "import", "dukascopy", ",".join(SYMBOLS), "2019-01-04:2019-01-07", "--url", json_url)
    assert proc.returncode == 0, proc.stderr
    assert "16 days imported, 0 already imported, 0 skipped (live parts), 0 failed;" in proc.stdout
    assert (
        "EURUSD 2019-01-05: 0 ticks, 24 empty hours -> ticks/EURUSD/2019/01/05/part-1546646400000-dukascopy.parquet"
        in proc.stdout
    )
    # the next step for days before the daily window: the history assets, then the chart
    assert "next:\n" in proc.stdout
    assert (
        "history: in the UI, select history_ticks and history_candles > Materialize > partitions EURUSD, "
        "months 2019-01 to 2019-01" in proc.stdout
    )
    assert "chart: .venv/bin/ticklake serve, then http://127.0.0.1:8000/?symbol=EURUSD&timeframe=1h" in proc.stdout
    lake = FileLake(tmp_path / "home" / "lake")
    days = [dt.date(2019, 1, 4) + dt.timedelta(days=i) for i in range(4)]
    for name in SYMBOLS:
        for day in days:
            assert_same_ticks(stored_day(lake, name, day), expected_day(name, day))
    requests = sum(m.requests.values())
    again = ticklake(env, "import", "dukascopy", ",".join(SYMBOLS), "2019-01-04:2019-01-07", "--url", json_url)
    assert again.returncode == 0 and "0 days imported, 16 already imported" in again.stdout
    assert sum(m.requests.values()) == requests  # resume asks the feed for nothing

    env_db = {**env, "DATABASE_URL": database_url}
    out = ticklake(env_db, "materialize", "XAUUSD", "2019-01-04:2019-01-07")
    assert out.returncode == 0, out.stderr
    got = fetch_candles(DatabaseResource(url=database_url, home=str(tmp_path)), symbol="XAUUSD")
    expected = [reference_candles(reference_clean(expected_day("XAUUSD", d)[["ts_ms", "bid", "ask"]], d)) for d in days]
    expected = [e for e in expected if len(e)]
    assert got["time"].tolist() == [t for e in expected for t in e["time"]]
    assert got["close"].tolist() == [c for e in expected for c in e["close"]]


def dukascopy_bid_candles(name: str, days: list[dt.date], width_s: int) -> list[dict]:
    """Candles as Dukascopy's BID candle files define them, from the mirror's integers: the bid's OHLC of each
    bucket and its summed bid volume (here in units), row by row in plain Python."""
    point = PRICES[name][0]
    buckets: dict[int, list] = {}
    for day in days:
        for h in range(24):
            hour = dt.datetime(day.year, day.month, day.day, h, tzinfo=dt.timezone.utc)
            p = hour_points(name, hour)
            for ms, bid, volume in zip(p["ms"], p["bid"], p["bid_volume"]):
                t = (int(hour.timestamp()) * 1000 + int(ms)) // 1000 // width_s * width_s
                buckets.setdefault(t, []).append((int(bid) / point, units(volume)))
    return [
        {
            "time": t,
            "open": rows[0][0],
            "high": max(r[0] for r in rows),
            "low": min(r[0] for r in rows),
            "close": rows[-1][0],
            "trades": len(rows),
            "bid_volume": sum(r[1] for r in rows),
        }
        for t, rows in sorted(buckets.items())
    ]


def test_the_served_bid_candles_equal_dukascopys_own_definition(env, mirror, tmp_path, database_url):
    """Imported with the default feed and materialized: the API's 5m and 1h BID candles of EURUSD 2019-02-04/05
    are the bid OHLC and bid-volume sums of the feed's own ticks, volumes in units."""
    _, _, json_url = mirror
    assert ticklake(env, "import", "dukascopy", "EURUSD", "2019-02-04:2019-02-05", "--url", json_url).returncode == 0
    out = ticklake({**env, "DATABASE_URL": database_url}, "materialize", "EURUSD", "2019-02-04:2019-02-05")
    assert out.returncode == 0, out.stderr
    store = CandleStore(DatabaseResource(url=database_url, home=str(tmp_path)), pooled=False)
    days = [dt.date(2019, 2, 4), dt.date(2019, 2, 5)]
    start = int(dt.datetime(2019, 2, 4, tzinfo=dt.timezone.utc).timestamp())
    for timeframe, width in (("5m", 300), ("1h", 3600)):
        served = json.loads(store.candles_json("EURUSD", timeframe, start, start + 2 * 86_400 - 1, 1000, "bid"))
        expected = dukascopy_bid_candles("EURUSD", days, width)
        assert [c["time"] for c in served] == [c["time"] for c in expected], timeframe
        for got, want in zip(served, expected):
            assert {k: got[k] for k in ("open", "high", "low", "close", "trades")} == {
                k: want[k] for k in ("open", "high", "low", "close", "trades")
            }
            assert got["bid_volume"] == pytest.approx(want["bid_volume"], rel=1e-12)


def test_json_feed_and_another_lake_symbol(env, mirror, tmp_path):
    _, _, json_url = mirror
    proc = ticklake(
        env,
        "import",
        "dukascopy",
        "GBPUSD",
        "2019-01-07",
        "--feed",
        "json",
        "--url",
        json_url,
        "--as",
        "CABLE",
        "--point-value",
        "100000",
        "--concurrency",
        "3",
    )
    assert proc.returncode == 0, proc.stderr
    lake = FileLake(tmp_path / "home" / "lake")
    assert_same_ticks(stored_day(lake, "CABLE", dt.date(2019, 1, 7)), expected_day("GBPUSD", dt.date(2019, 1, 7)))


def test_a_failed_day_is_reported_and_exits_1_while_other_days_are_imported(env, mirror, tmp_path):
    m, bi5, _ = mirror
    bad = "/datafeed/EURUSD/2019/00/08/17h_ticks.bi5"
    m.fault = lambda path, nth: (200, {}, b"\x5d\x00\x00garbage") if path == bad else None
    proc = ticklake(env, "import", "dukascopy", "EURUSD", "2019-01-07:2019-01-09", "--url", bi5, "--feed", "bi5")
    assert proc.returncode == 1
    assert "2 days imported, 0 already imported, 0 skipped (live parts), 1 failed" in proc.stdout
    assert (
        f"failed: EURUSD 2019-01-08: {bi5[: -len('/datafeed')]}{bad}: undecodable body after 3 attempts" in proc.stderr
    )
    lake = FileLake(tmp_path / "home" / "lake")
    assert not lake.exists(dukascopy_part_key("EURUSD", dt.date(2019, 1, 8)))
    assert lake.exists(dukascopy_part_key("EURUSD", dt.date(2019, 1, 9)))


def test_dry_run_fetches_and_writes_nothing(env, mirror, tmp_path):
    m, bi5, _ = mirror
    proc = ticklake(
        env, "import", "dukascopy", "EURUSD,BTCUSD", "2019-01-01:2019-01-10", "--url", bi5, "--feed", "bi5", "--dry-run"
    )
    assert proc.returncode == 0, proc.stderr
    assert "EURUSD: 10 days to import (240 requests), 0 already imported, 0 skipped (live parts)" in proc.stdout
    assert "dry run: 20 days, 480 requests; nothing fetched or written" in proc.stdout
    assert not m.requests and not (tmp_path / "home" / "lake").exists()


@pytest.mark.parametrize(
    "args, error",
    [
        (["EUR/USD", "2019-01-01"], "Invalid symbol 'EUR/USD'*"),
        (["EURUSD", "2019-02-30"], "Invalid date '2019-02-30': expected YYYY-MM-DD"),
        (["EURUSD", "2019-01-09:2019-01-02"], "Invalid range '2019-01-09:2019-01-02': end is before start"),
        (["EURUSD", "2999-01-01"], "Invalid range '2999-01-01': it is in the future*"),
        (["EURUSD", "2019-01-01:2999-01-01"], "Invalid range '2019-01-01:2999-01-01': 2999-01-01 is not over yet*"),
        (
            ["DEUIDXEUR", "2019-01-01"],
            "Unknown Dukascopy instrument DEUIDXEUR: give its point factor with --point-value*",
        ),
        (
            ["EURUSD", "2019-01-01", "--url", "http://127.0.0.1:9/datafeed", "--feed", "bi5"],
            "Cannot reach the Dukascopy feed at http://127.0.0.1:9/datafeed/EURUSD/2019/00/01/00h_ticks.bi5*",
        ),
        (["EURUSD", "2019-01-01", "--url", "file:///etc"], "Invalid Dukascopy URL 'file:///etc'*"),
        (["EURUSD", "2019-01-01", "--concurrency", "0"], "Invalid --concurrency 0*"),
        (["EURUSD", "2019-01-01", "--processes", "-1"], "Invalid --processes -1*"),
        (["EURUSD,USDJPY", "2019-01-01", "--as", "FX"], "--as stores one instrument under another lake symbol*"),
    ],
)
def test_bad_input_is_one_line(env, args, error, tmp_path):
    assert_one_line_error(ticklake(env, "import", "dukascopy", *args), error)
    assert not (tmp_path / "home" / "lake").exists()


def test_ctrl_c_stops_cleanly_without_a_partial_day_and_the_rerun_completes(env, mirror, tmp_path):
    m, bi5, _ = mirror

    def slow(path, nth):
        time.sleep(0.05)

    m.fault = slow
    days = "2019-01-07:2019-01-18"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ticklake_dagster.commands.cli",
            "import",
            "dukascopy",
            "EURUSD",
            days,
            "--url",
            bi5,
            "--feed",
            "bi5",
            "--concurrency",
            "2",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=terminal_sigint,
    )
    lake = FileLake(tmp_path / "home" / "lake")
    deadline = time.monotonic() + 60
    while not list(lake.list("ticks/EURUSD/")) and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted: every day written is whole" in err
    written = [o.key for o in lake.list("ticks/EURUSD/")]
    assert 1 <= len(written) < 12
    all_days = [dt.date(2019, 1, 7) + dt.timedelta(days=i) for i in range(12)]
    for day in all_days:
        if lake.exists(dukascopy_part_key("EURUSD", day)):
            assert_same_ticks(stored_day(lake, "EURUSD", day), expected_day("EURUSD", day))
    assert not [p for p in (tmp_path / "home" / "lake").rglob(".tmp-*")]
    m.fault = None
    rerun = ticklake(env, "import", "dukascopy", "EURUSD", days, "--url", bi5, "--feed", "bi5")
    assert (
        rerun.returncode == 0 and f"{12 - len(written)} days imported, {len(written)} already imported" in rerun.stdout
    )


def test_the_next_step_for_days_in_the_daily_window_is_their_candles():
    from ticklake_dagster.commands.import_history import next_steps

    days = [("GBPUSD", dt.date(2026, 11, d)) for d in (16, 17, 18)] + [("GBPUSD", dt.date(2026, 3, 2))]
    lines = next_steps(days, daily_start=dt.date(2026, 1, 1))
    assert lines[0] == "next:"
    assert lines[1].startswith("  candles: .venv/bin/ticklake materialize GBPUSD 2026-03-02:2026-03-02")
    assert lines[2].startswith("  candles: .venv/bin/ticklake materialize GBPUSD 2026-11-16:2026-11-18")
    assert "Assets > candles_5m > Materialize > partitions GBPUSD, 2026-11-16 to 2026-11-18" in lines[2]
    older = next_steps(days, daily_start=dt.date(2026, 11, 17))
    assert older[1].startswith("  candles: .venv/bin/ticklake materialize GBPUSD 2026-11-17:2026-11-18")
    assert "history_candles" in older[2] and "GBPUSD, months 2026-03 to 2026-11" in older[2]
    assert next_steps([], dt.date(2026, 1, 1)) == []
