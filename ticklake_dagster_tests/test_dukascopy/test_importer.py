"""The importer against a local mirror: exact days, both feeds, faults and retries, resume, overwrite, live parts."""

import datetime as dt
import time

from ticklake_dagster.lake.keys import raw_part_key
from ticklake_dagster.lake.parts import ticks_to_parquet
from ticklake_dagster.sources.dukascopy.feeds import FEEDS
from ticklake_dagster.sources.dukascopy.fetch import FeedClient, RetryPolicy
from ticklake_dagster.sources.dukascopy.importer import (
    DONE,
    FAILED,
    IMPORTED,
    LIVE,
    Importer,
    ImportSource,
    dukascopy_part_key,
)
from ticklake_dagster.sources.dukascopy.instruments import resolve_instrument
from ticklake_dagster_tests.test_dukascopy.conftest import assert_same_ticks, expected_day, stored_day

DAYS = [dt.date(2019, 1, 3) + dt.timedelta(days=i) for i in range(5)]  # Thursday to Monday: a weekend inside
FAST = RetryPolicy(backoff_base_s=0.01, backoff_cap_s=0.05)


def run_import(
    lake, base, names, days=DAYS, feed="bi5", overwrite=False, concurrency=8, policy=FAST, processes=None, on_day=None
):
    client = FeedClient(concurrency, policy, headers=FEEDS[feed].headers)
    sources = [ImportSource(n, resolve_instrument(n), FEEDS[feed], base) for n in names]
    try:
        return Importer(lake, client, concurrency, overwrite=overwrite, processes=processes, on_day=on_day).run(
            sources, days
        )
    finally:
        client.close()


def hour_path(name: str, day: dt.date, hour: int) -> str:
    return f"/datafeed/{name}/{day.year}/{day.month - 1:02d}/{day.day:02d}/{hour:02d}h_ticks.bi5"


def test_days_are_imported_exactly_for_fx_jpy_metal_and_crypto(lake_resource, mirror):
    m, bi5, _ = mirror
    lake = lake_resource.get_lake()
    summary = run_import(lake, bi5, ["EURUSD", "USDJPY", "XAUUSD", "BTCUSD"])
    assert summary.count(IMPORTED) == 4 * len(DAYS) and not summary.failed
    total = 0
    for name in ("EURUSD", "USDJPY", "XAUUSD", "BTCUSD"):
        for day in DAYS:
            expected = expected_day(name, day)
            assert_same_ticks(stored_day(lake, name, day), expected)
            total += len(expected)
    assert summary.total("ticks") == total
    saturday = [o for o in summary.outcomes if o.symbol == "EURUSD" and o.day == dt.date(2019, 1, 5)][0]
    assert saturday.ticks == 0 and saturday.empty_hours == 24  # a closed day is stored as known-empty
    assert m.requests[hour_path("EURUSD", dt.date(2019, 1, 5), 12)] == 1  # closed market: no second ask
    assert summary.total("empty_hours") > 24


def test_both_feeds_store_identical_days(file_lake_resource, tmp_path, mirror):
    _, bi5, json_url = mirror
    from ticklake_dagster.lake.storage import FileLake

    lake_a, lake_b = FileLake(tmp_path / "a"), FileLake(tmp_path / "b")
    run_import(lake_a, bi5, ["EURUSD", "BTCUSD"])
    run_import(lake_b, json_url, ["EURUSD", "BTCUSD"], feed="json")
    for name in ("EURUSD", "BTCUSD"):
        for day in DAYS:
            assert_same_ticks(stored_day(lake_b, name, day), stored_day(lake_a, name, day))


def test_an_empty_answer_while_the_market_trades_is_asked_for_again(file_lake_resource, mirror):
    m, bi5, _ = mirror
    day = DAYS[0]
    m.fault = lambda path, nth: (200, {}, b"") if nth == 1 else None  # every hour's first answer is empty
    summary = run_import(file_lake_resource.get_lake(), bi5, ["EURUSD"], days=[day])
    assert_same_ticks(stored_day(file_lake_resource.get_lake(), "EURUSD", day), expected_day("EURUSD", day))
    assert summary.total("empty_hours") == 0
    assert all(m.requests[hour_path("EURUSD", day, h)] == 2 for h in range(24))


def test_a_feed_answering_503_to_every_first_request_still_gives_every_tick(lake_resource, mirror):
    m, bi5, _ = mirror
    m.fault = lambda path, nth: (503, {}, b"busy") if nth == 1 else None
    summary = run_import(lake_resource.get_lake(), bi5, ["EURUSD", "XAUUSD"], days=DAYS[:2])
    assert summary.count(IMPORTED) == 4 and summary.total("retries") >= 48
    for name in ("EURUSD", "XAUUSD"):
        for day in DAYS[:2]:
            assert_same_ticks(stored_day(lake_resource.get_lake(), name, day), expected_day(name, day))


def test_429_with_retry_after_is_waited_for(file_lake_resource, mirror):
    m, bi5, _ = mirror
    day = DAYS[0]
    throttled = hour_path("EURUSD", day, 3)
    m.fault = lambda path, nth: (429, {"Retry-After": "1"}, b"slow down") if path == throttled and nth == 1 else None
    started = time.monotonic()
    summary = run_import(file_lake_resource.get_lake(), bi5, ["EURUSD"], days=[day])
    assert time.monotonic() - started >= 1.0  # the backoff alone would be under 0.05 s
    assert summary.count(IMPORTED) == 1 and m.requests[throttled] == 2


def test_a_truncated_body_fails_that_day_naming_the_url_while_other_days_go_on(file_lake_resource, mirror):
    m, bi5, _ = mirror
    lake = file_lake_resource.get_lake()
    bad = hour_path("EURUSD", DAYS[1], 9)
    full = m.answer(bad)[2]
    m.fault = lambda path, nth: (200, {}, full[: len(full) // 2]) if path == bad else None
    summary = run_import(lake, bi5, ["EURUSD"])
    [failed] = summary.failed
    assert (
        failed.day == DAYS[1] and f"{bi5}/EURUSD/2019/00/04/09h_ticks.bi5" in failed.reason and "LZMA" in failed.reason
    )
    assert m.requests[bad] == 1 + FAST.decode_attempts  # retried before giving up
    assert not lake.exists(dukascopy_part_key("EURUSD", DAYS[1]))  # no partial day
    assert summary.count(IMPORTED) == len(DAYS) - 1
    m.fault = None
    again = run_import(lake, bi5, ["EURUSD"])  # resume fetches only the failed day
    assert again.count(IMPORTED) == 1 and again.count(DONE) == len(DAYS) - 1
    assert_same_ticks(stored_day(lake, "EURUSD", DAYS[1]), expected_day("EURUSD", DAYS[1]))


def test_a_dropped_connection_is_retried(file_lake_resource, mirror):
    m, bi5, _ = mirror
    day = DAYS[0]
    body = m.answer(hour_path("EURUSD", day, 5))[2]
    # Content-Length says more than arrives: the client sees the connection end mid-body.
    m.fault = lambda path, nth: (
        (200, {"Content-Length": str(len(body) + 100)}, body) if path.endswith("05h_ticks.bi5") and nth == 1 else None
    )
    summary = run_import(file_lake_resource.get_lake(), bi5, ["EURUSD"], days=[day])
    assert summary.count(IMPORTED) == 1
    assert_same_ticks(stored_day(file_lake_resource.get_lake(), "EURUSD", day), expected_day("EURUSD", day))


def test_the_json_apis_202_without_data_is_retried_not_taken_for_an_empty_hour(file_lake_resource, mirror):
    """Its WAF answers 202 with an empty body to requests it distrusts; taking that for an empty hour loses ticks."""
    m, _, json_url = mirror
    day = DAYS[0]
    m.fault = lambda path, nth: (202, {}, b"") if path.endswith(f"/{day.day}/5") and nth <= 2 else None
    summary = run_import(file_lake_resource.get_lake(), json_url, ["EURUSD"], days=[day], feed="json")
    assert summary.count(IMPORTED) == 1
    assert [n for p, n in m.requests.items() if p.endswith(f"/{day.day}/5")] == [3]
    assert_same_ticks(stored_day(file_lake_resource.get_lake(), "EURUSD", day), expected_day("EURUSD", day))


def test_resume_imports_nothing_the_second_time_and_overwrite_everything(lake_resource, mirror):
    m, bi5, _ = mirror
    lake = lake_resource.get_lake()
    run_import(lake, bi5, ["EURUSD"])
    before = sum(m.requests.values())
    again = run_import(lake, bi5, ["EURUSD"])
    assert again.count(DONE) == len(DAYS) and again.count(IMPORTED) == 0 and sum(m.requests.values()) == before
    forced = run_import(lake, bi5, ["EURUSD"], overwrite=True)
    assert forced.count(IMPORTED) == len(DAYS)
    for day in DAYS:
        keys = [o.key for o in lake.list(f"ticks/EURUSD/{day:%Y/%m/%d}/")]
        assert keys == [dukascopy_part_key("EURUSD", day)]
        assert_same_ticks(stored_day(lake, "EURUSD", day), expected_day("EURUSD", day))


def test_a_day_with_live_parts_is_skipped_unless_overwrite(lake_resource, mirror):
    m, bi5, _ = mirror
    lake = lake_resource.get_lake()
    day = DAYS[0]
    live = raw_part_key("EURUSD", day, 1546509600000, suffix="live1")
    lake.put(live, ticks_to_parquet([1546509600000], [1.1], [1.2]))
    summary = run_import(lake, bi5, ["EURUSD"], days=DAYS[:2])
    assert [o.status for o in summary.outcomes if o.day == day] == [LIVE]
    assert not lake.exists(dukascopy_part_key("EURUSD", day)) and lake.exists(live)
    assert not any(path.startswith("/datafeed/EURUSD/2019/00/03/") for path in m.requests)
    forced = run_import(lake, bi5, ["EURUSD"], days=[day], overwrite=True)
    [outcome] = forced.outcomes
    assert outcome.status == IMPORTED and outcome.replaced == [live]
    assert not lake.exists(live)
    assert_same_ticks(stored_day(lake, "EURUSD", day), expected_day("EURUSD", day))


def test_a_missing_file_fails_the_day_without_retrying(file_lake_resource, mirror):
    m, bi5, _ = mirror
    summary = run_import(
        file_lake_resource.get_lake(), bi5, ["EURUSD"], days=DAYS[:1], policy=RetryPolicy(backoff_base_s=5)
    )
    assert summary.count(FAILED) == 0
    m.fault = lambda path, nth: (404, {}, b"no") if path.endswith("/00/07/11h_ticks.bi5") else None
    summary = run_import(
        file_lake_resource.get_lake(), bi5, ["EURUSD"], days=[DAYS[4]], policy=RetryPolicy(backoff_base_s=5)
    )
    [failed] = summary.failed
    assert failed.reason.endswith("11h_ticks.bi5: HTTP 404")


def test_a_lake_write_failure_fails_that_day_only(tmp_path, mirror):
    from ticklake_dagster.core.errors import LakeError
    from ticklake_dagster.lake.storage import FileLake

    class FlakyLake(FileLake):
        def put(self, key, data):
            if "/2019/01/04/" in key:
                raise LakeError(f"Lake refused {key}")
            super().put(key, data)

    _, bi5, _ = mirror
    summary = run_import(FlakyLake(tmp_path / "lake"), bi5, ["EURUSD"], days=DAYS[:3])
    [failed] = summary.failed
    assert failed.day == DAYS[1] and failed.reason.startswith("writing ticks/EURUSD/2019/01/04/part-")
    assert summary.count(IMPORTED) == 2
