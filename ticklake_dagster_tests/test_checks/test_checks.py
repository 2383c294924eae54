"""Each asset check passing on good data and failing on crafted bad data; blocking checks stop downstream."""

import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ticklake_dagster.candles.building import build_candles
from ticklake_dagster.core.days import day_start_ms
from ticklake_dagster.defs.assets import ticks_and_candles
from ticklake_dagster.defs.checks import (
    CANDLES_CHECKS,
    CANDLES_FRESHNESS_CHECK,
    CANDLES_GAPS_CHECK,
    CANDLES_OHLC_CHECK,
    CANDLES_TRADES_CHECK,
    CANDLES_UNIQUE_CHECK,
    TICKS_BID_LE_ASK_CHECK,
    TICKS_CHECKS,
    TICKS_INSIDE_DAY_CHECK,
    TICKS_NO_DUPLICATES_CHECK,
    TICKS_REJECTED_RATIO_CHECK,
    TICKS_SCHEMA_CHECK,
    TICKS_SORTED_CHECK,
    candles_findings,
    count_exact_duplicates,
    ticks_findings,
)
from ticklake_dagster.defs.partitions import partition_key
from ticklake_dagster.defs.resources import TicklakeSettings
from ticklake_dagster.lake.parts import daily_table
from ticklake_dagster.ticks.validation import clean_day
from ticklake_dagster_tests.factories import (
    DAY,
    fetch_candles,
    instance_with_symbols,
    materializations,
    random_ticks,
    reference_clean,
    write_parquet_parts,
)

SETTINGS = TicklakeSettings()
START = day_start_ms(DAY)
AFTER_DAY = dt.datetime.combine(DAY + dt.timedelta(days=2), dt.time(), dt.timezone.utc)


def good_table() -> pa.Table:
    return daily_table(reference_clean(random_ticks(1, n=2000), DAY))


def failing(findings: dict) -> set:
    return {name for name, why in findings.items() if why}


def test_a_clean_compacted_day_passes_every_tick_check():
    assert failing(ticks_findings(good_table(), DAY, rows_read=2000, rejected=0, settings=SETTINGS)) == set()
    assert failing(ticks_findings(None, DAY, rows_read=0, rejected=0, settings=SETTINGS)) == set()


def _with(table: pa.Table, **columns) -> pa.Table:
    frame = table.to_pandas()
    for name, fn in columns.items():
        frame[name] = fn(frame[name].copy())
    return pa.Table.from_pandas(frame, schema=table.schema, preserve_index=False)


@pytest.mark.parametrize(
    "make_bad, check",
    [
        (lambda t: t.set_column(0, "ts", t.column("ts").cast(pa.int64())), TICKS_SCHEMA_CHECK),
        (lambda t: t.drop_columns(["ask"]), TICKS_SCHEMA_CHECK),
        (
            lambda t: t.take(np.r_[1, 0, np.arange(2, t.num_rows)]) if t.column("ts")[0] != t.column("ts")[1] else None,
            TICKS_SORTED_CHECK,
        ),
        (lambda t: pa.concat_tables([t.slice(0, 1), t]), TICKS_NO_DUPLICATES_CHECK),
        (lambda t: _with(t, bid=lambda s: s.where(s.index != 5, s + 1.0)), TICKS_BID_LE_ASK_CHECK),
        (
            lambda t: _with(t, ts=lambda s: s.where(s.index != t.num_rows - 1, s + pd.Timedelta(days=1))),
            TICKS_INSIDE_DAY_CHECK,
        ),
    ],
)
def test_each_tick_check_fails_on_crafted_data(make_bad, check):
    bad = make_bad(good_table())
    assert failing(ticks_findings(bad, DAY, rows_read=2000, rejected=0, settings=SETTINGS)) == {check}


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 6), st.sampled_from([1.0, 1.5, np.nan]), st.sampled_from([2.0, np.nan])), max_size=40
    ),
    st.booleans(),
)
def test_duplicate_count_equals_hashing_the_whole_day(rows, sort):
    """The sorted shortcut (hash only rows sharing a timestamp) counts what pandas counts over every row."""
    frame = pd.DataFrame(rows, columns=["ts", "bid", "ask"], dtype="float64").astype({"ts": "int64"})
    if sort:
        frame = frame.sort_values("ts", kind="stable")
    ts, bid, ask = (frame[c].to_numpy() for c in ("ts", "bid", "ask"))
    expected = int(frame.duplicated().sum())
    ts_sorted = bool((np.diff(ts) >= 0).all())
    assert count_exact_duplicates(ts, bid, ask, ts_sorted) == expected


def test_rejected_ratio_threshold_and_minimum_rows():
    table = good_table()
    assert failing(ticks_findings(table, DAY, rows_read=2000, rejected=20, settings=SETTINGS)) == set()  # 1.0%
    assert failing(ticks_findings(table, DAY, rows_read=2000, rejected=21, settings=SETTINGS)) == {
        TICKS_REJECTED_RATIO_CHECK
    }
    assert (
        failing(ticks_findings(None, DAY, rows_read=6, rejected=5, settings=SETTINGS)) == set()
    )  # too few rows to judge


def day_candles(seed: int = 2, n: int = 20_000) -> tuple[pd.DataFrame, int]:
    ticks = clean_day(random_ticks(seed, n=n), DAY).ticks
    candles = build_candles(ticks)
    candles["time"] = pd.to_datetime(candles["time"], unit="ms", utc=True)
    return candles, len(ticks)


def test_good_candles_pass_every_candle_check():
    candles, n = day_candles()
    assert len(candles) == 288
    assert failing(candles_findings(candles, "EURUSD", DAY, n, AFTER_DAY, SETTINGS)) == set()


@pytest.mark.parametrize(
    "mutate, check",
    [
        (lambda c: c.assign(high=c["high"].where(c.index != 3, c["open"] - 1e-4)), CANDLES_OHLC_CHECK),
        (lambda c: c.assign(low=c["low"].where(c.index != 7, c["close"] + 1e-4)), CANDLES_OHLC_CHECK),
        (
            lambda c: pd.concat([c, c.iloc[[10]]], ignore_index=True).assign(
                trades=lambda f: f["trades"].where(f.index != len(f) - 1, 0)
            ),
            CANDLES_UNIQUE_CHECK,
        ),
        (lambda c: c.assign(trades=c["trades"].where(c.index != 0, c["trades"] + 1)), CANDLES_TRADES_CHECK),
        (lambda c: c.drop(index=range(100, 110)).reset_index(drop=True), CANDLES_GAPS_CHECK),
    ],
)
def test_each_candle_check_fails_on_crafted_data(mutate, check):
    candles, n = day_candles()
    bad = mutate(candles)
    if check == CANDLES_GAPS_CHECK:
        n = int(bad["trades"].sum())  # only the gap is wrong
    assert failing(candles_findings(bad, "EURUSD", DAY, n, AFTER_DAY, SETTINGS)) == {check}


def test_gaps_respect_the_threshold_and_market_hours():
    candles, _ = day_candles()
    short = candles.drop(index=range(100, 106)).reset_index(drop=True)  # 6 buckets: at the limit
    assert failing(candles_findings(short, "EURUSD", DAY, int(short["trades"].sum()), AFTER_DAY, SETTINGS)) == set()
    saturday = DAY + dt.timedelta(days=2)
    empty = candles.iloc[:0]
    assert failing(candles_findings(empty, "EURUSD", saturday, 0, AFTER_DAY + dt.timedelta(days=3), SETTINGS)) == set()
    assert failing(candles_findings(empty, "BTC-USD", saturday, 0, AFTER_DAY + dt.timedelta(days=3), SETTINGS)) == {
        CANDLES_GAPS_CHECK
    }


def test_fx_friday_ends_at_17_new_york_and_crypto_runs_the_whole_day():
    """FX's week ends at 17:00 New York on Friday (22:00 UTC in November): its quiet evening is no gap."""
    friday = DAY + dt.timedelta(days=1)
    shift = pd.Timedelta(days=1)
    candles, _ = day_candles()
    week_end = candles[candles["time"] < pd.Timestamp(DAY, tz="UTC") + pd.Timedelta(hours=22)].reset_index(drop=True)
    on_friday = week_end.assign(time=week_end["time"] + shift)
    n = int(week_end["trades"].sum())
    later = AFTER_DAY + dt.timedelta(days=1)
    assert failing(candles_findings(on_friday, "EURUSD", friday, n, later, SETTINGS)) == set()
    assert failing(candles_findings(week_end, "EURUSD", DAY, n, later, SETTINGS)) == {CANDLES_GAPS_CHECK}  # Thursday
    assert failing(candles_findings(on_friday, "BTC-USD", friday, n, later, SETTINGS)) == {CANDLES_GAPS_CHECK}


def test_freshness_of_todays_latest_candle():
    candles, _ = day_candles()
    morning = candles[candles["time"] < pd.Timestamp(DAY, tz="UTC") + pd.Timedelta(hours=10)].reset_index(drop=True)
    n = int(morning["trades"].sum())
    last_end = morning["time"].iloc[-1] + pd.Timedelta(minutes=5)
    fresh_now = (last_end + pd.Timedelta(minutes=10)).to_pydatetime()
    stale_now = (last_end + pd.Timedelta(minutes=45)).to_pydatetime()
    assert failing(candles_findings(morning, "EURUSD", DAY, n, fresh_now, SETTINGS)) == set()
    assert failing(candles_findings(morning, "EURUSD", DAY, n, stale_now, SETTINGS)) == {CANDLES_FRESHNESS_CHECK}
    # A finished day is judged by gaps, never by freshness.
    assert CANDLES_FRESHNESS_CHECK not in failing(candles_findings(morning, "EURUSD", DAY, n, AFTER_DAY, SETTINGS))


def check_evaluations(result, asset: str) -> dict:
    return {e.check_name: e for e in result.get_asset_check_evaluations() if e.asset_key.to_user_string() == asset}


def test_a_failing_blocking_check_stops_candles(file_lake_resource, database):
    rng = np.random.default_rng(5)
    ticks = random_ticks(5, n=1000)
    crossed = rng.random(1000) < 0.3
    ticks.loc[crossed, "bid"] = ticks.loc[crossed, "ask"] + 0.001
    write_parquet_parts(file_lake_resource.get_lake(), "EURUSD", ticks, parts=2)
    result = dg.materialize(
        [ticks_and_candles],
        partition_key=partition_key("EURUSD", DAY),
        instance=instance_with_symbols("EURUSD"),
        resources={"lake": file_lake_resource, "database": database, "settings": TicklakeSettings()},
        raise_on_error=False,
    )
    assert not result.success
    evaluations = check_evaluations(result, "r2_ticks")
    assert set(evaluations) == set(TICKS_CHECKS)
    assert {n for n, e in evaluations.items() if not e.passed} == {TICKS_REJECTED_RATIO_CHECK}
    assert evaluations[TICKS_REJECTED_RATIO_CHECK].severity == dg.AssetCheckSeverity.ERROR
    assert materializations(result, "candles_5m") == []
    with database.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass('candles_5m')")
        assert cur.fetchone()[0] is None or fetch_candles(database).empty


def test_a_backfill_run_checks_every_partition_and_names_the_failing_one(file_lake_resource, database):
    lake = file_lake_resource.get_lake()
    days = [DAY - dt.timedelta(days=1), DAY, DAY + dt.timedelta(days=1)]  # Wednesday..Friday
    for i, day in enumerate(days):
        ticks = random_ticks(60 + i, day=day, n=20_000)
        if day == DAY:  # two hours without ticks
            ts = ticks["ts_ms"] - day_start_ms(day)
            ticks = ticks[(ts < 3_600_000 * 9) | (ts >= 3_600_000 * 11)]
        write_parquet_parts(lake, "EURUSD", ticks, parts=2, day=day)
    result = dg.materialize(
        [ticks_and_candles],
        instance=instance_with_symbols("EURUSD"),
        resources={"lake": file_lake_resource, "database": database, "settings": TicklakeSettings()},
        tags={
            "dagster/asset_partition_range_start": partition_key("EURUSD", days[0]),
            "dagster/asset_partition_range_end": partition_key("EURUSD", days[-1]),
        },
    )
    assert result.success  # gaps is a WARN check: reported, not blocking
    evaluations = check_evaluations(result, "candles_5m")
    assert set(evaluations) == set(CANDLES_CHECKS)
    gaps = evaluations[CANDLES_GAPS_CHECK]
    assert not gaps.passed and gaps.severity == dg.AssetCheckSeverity.WARN
    assert gaps.metadata["partitions_checked"].value == 3
    assert gaps.metadata["failed_partitions"].value == str(partition_key("EURUSD", DAY))
    assert all(e.passed for n, e in evaluations.items() if n != CANDLES_GAPS_CHECK)
    assert evaluations[CANDLES_TRADES_CHECK].metadata["partitions_checked"].value == 3
