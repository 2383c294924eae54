"""lake stats on crafted lakes (a folder and the moto S3 server): every figure known in advance."""

import datetime as dt
import json
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from ticklake_dagster.core.days import day_start_ms
from ticklake_dagster.core.errors import LakeError
from ticklake_dagster.lake.costs import JSON_BYTES_PER_TICK
from ticklake_dagster.lake.keys import daily_key, raw_part_key
from ticklake_dagster.lake.parts import ticks_to_parquet
from ticklake_dagster.lake.stats import GapRange, collect_stats, coverage_gaps, read_footer, recent_gaps
from ticklake_dagster.ticks.compaction import compact_day

MON = dt.date(2025, 11, 10)
TODAY = MON + dt.timedelta(days=9)  # Wednesday 19th: the window ends Tuesday 18th


def day(n: int) -> dt.date:
    return MON + dt.timedelta(days=n)


def put_part(lake, symbol: str, d: dt.date, n: int, offset_ms: int = 0, suffix: str = "a") -> tuple[str, int]:
    ts = day_start_ms(d) + offset_ms + np.arange(n, dtype="int64") * 1000
    data = ticks_to_parquet(ts, np.full(n, 1.1), np.full(n, 1.1002))
    key = raw_part_key(symbol, d, int(ts[0]), suffix=suffix)
    lake.put(key, data)
    return key, len(data)


@pytest.fixture
def crafted(lake_resource):
    """EURUSD: Mon compacted (2 parts), Tue 3 parts, Wed missing, Thu a legacy JSON part and a Parquet part,
    Fri-Mon missing (a weekend inside), Tue compacted. BTC-USD: Saturday only."""
    lake = lake_resource.get_lake()
    sizes = {"raw": 0}
    expect_ticks = 0
    for n, offset, sfx in ((100, 0, "a"), (50, 3_600_000, "b")):
        sizes["raw"] += put_part(lake, "EURUSD", day(0), n, offset, sfx)[1]
    for sfx in "abc":
        sizes["raw"] += put_part(lake, "EURUSD", day(1), 30, {"a": 0, "b": 60_000, "c": 120_000}[sfx], sfx)[1]
    expect_ticks += 90
    records = [{"timestamp": day_start_ms(day(3)) / 1000 + i, "bid": 1.1, "ask": 1.2} for i in range(40)]
    json_data = json.dumps(records).encode()
    lake.put(f"ticks/EURUSD/2025/11/13/part-{day_start_ms(day(3)):013d}-legacy.json", json_data)
    sizes["raw"] += len(json_data)
    sizes["raw"] += put_part(lake, "EURUSD", day(3), 20, 7_200_000)[1]
    expect_ticks += 20 + round(len(json_data) / JSON_BYTES_PER_TICK)
    sizes["raw"] += put_part(lake, "EURUSD", day(8), 10, 5_000)[1]
    compacted = 0
    for d in (day(0), day(8)):
        result = compact_day(lake, "EURUSD", d)
        compacted += result.bytes_written
        expect_ticks += len(result.ticks)
    btc_key, btc_bytes = put_part(lake, "BTC-USD", day(5), 7, 0)
    return lake, {
        "eur_raw": sizes["raw"],
        "eur_compacted": compacted,
        "eur_ticks": expect_ticks,
        "json_bytes": len(json_data),
        "btc_bytes": btc_bytes,
    }


def test_stats_are_exact_on_a_crafted_lake(crafted):
    lake, expect = crafted
    progress = []
    stats = collect_stats(lake, today=TODAY, progress=lambda n, r: progress.append((n, r)))
    btc, eur = stats.symbols
    assert (btc.symbol, eur.symbol) == ("BTC-USD", "EURUSD")
    assert eur.days_with_data == 4
    assert (eur.raw_parts, eur.json_parts, eur.compacted_days, eur.objects) == (8, 1, 2, 10)
    assert (eur.raw_bytes, eur.compacted_bytes) == (expect["eur_raw"], expect["eur_compacted"])
    assert eur.total_bytes == expect["eur_raw"] + expect["eur_compacted"]
    assert (
        eur.ticks == expect["eur_ticks"] == 100 + 50 + 90 + 20 + round(expect["json_bytes"] / JSON_BYTES_PER_TICK) + 10
    )
    assert eur.ticks_estimated == round(expect["json_bytes"] / JSON_BYTES_PER_TICK)
    assert eur.bytes_per_tick == pytest.approx(eur.total_bytes / eur.ticks)
    assert eur.first_tick_ms == day_start_ms(day(0))
    assert eur.last_tick_ms == day_start_ms(day(8)) + 5_000 + 9_000
    # Wednesday alone; Friday..Monday is one range of 3 open days (Sunday evening opens the week, Saturday is closed)
    assert eur.gaps == [GapRange(day(2), day(2), 1), GapRange(day(4), day(7), 3)]
    assert eur.uncompacted == [day(1), day(3)]
    assert eur.parts_per_day == pytest.approx(3 / 7)  # Thursday's 2 and Tuesday's 1 within the last 7 days
    # crypto trades every day: Sunday to Tuesday are gaps
    assert (btc.days_with_data, btc.raw_parts, btc.raw_bytes, btc.ticks) == (1, 1, expect["btc_bytes"], 7)
    assert btc.gaps == [GapRange(day(6), day(8), 3)]
    assert btc.uncompacted == [day(5)]
    total = stats.total
    assert total.objects == 11 and total.ticks == eur.ticks + 7
    assert total.total_bytes == eur.total_bytes + btc.total_bytes
    # two symbol listings, then raw + daily per symbol, one page each
    assert stats.list_requests == 2 + 2 * 2
    # footers: 2 compacted days, Tuesday's 3 parts, Thursday's Parquet part, BTC's part (never the JSON)
    assert stats.footer_reads == 2 + 3 + 1 + 1
    assert progress == []  # fewer than 10,000 objects


def test_window_and_symbol_filter(crafted):
    lake, _ = crafted
    stats = collect_stats(lake, symbols=["EURUSD"], first=day(1), last=day(3), today=TODAY)
    (eur,) = stats.symbols
    assert (eur.days_with_data, eur.raw_parts, eur.compacted_days) == (2, 5, 0)
    assert eur.gaps == [GapRange(day(2), day(2), 1)]
    assert eur.parts_per_day == pytest.approx(3 / 7)  # the rate still looks at the last 7 days


def test_recent_gaps_only_counts_the_last_days(crafted):
    lake, _ = crafted
    eur = next(s for s in collect_stats(lake, today=TODAY).symbols if s.symbol == "EURUSD")
    assert recent_gaps(eur, TODAY, days=7) == [GapRange(day(2), day(2), 1), GapRange(day(4), day(7), 3)]
    assert recent_gaps(eur, TODAY, days=2) == [GapRange(day(7), day(7), 1)]  # Monday; Tuesday has data
    assert recent_gaps(eur, TODAY, days=1) == []


def test_fx_saturday_is_never_a_gap_and_sunday_evening_is():
    sat = dt.date(2025, 11, 15)
    assert coverage_gaps("EURUSD", set(), sat, sat) == []
    sun = sat + dt.timedelta(days=1)
    assert coverage_gaps("EURUSD", set(), sat, sun) == [GapRange(sun, sun, 1)]
    assert coverage_gaps("ETH-USD", set(), sat, sat + dt.timedelta(days=1)) == [
        GapRange(sat, sat + dt.timedelta(days=1), 2)
    ]


def test_a_raw_part_newer_than_its_compacted_day_is_reported(file_lake_resource):
    lake = file_lake_resource.get_lake()
    key, _ = put_part(lake, "EURUSD", day(0), 10)
    compact_day(lake, "EURUSD", day(0))
    stats = collect_stats(lake, today=TODAY)
    assert stats.symbols[0].uncompacted == []
    late, _ = put_part(lake, "EURUSD", day(0), 5, 3_600_000, "late")
    compacted = lake.root / daily_key("EURUSD", day(0))
    os.utime(lake.root / late, (compacted.stat().st_mtime + 5,) * 2)
    (eur,) = collect_stats(lake, today=TODAY).symbols
    assert eur.uncompacted == [day(0)]
    assert eur.ticks == 15  # the raw parts' footers while the compacted file is stale


def test_footer_read_is_a_tail_read(lake_resource):
    lake = lake_resource.get_lake()
    key, size = put_part(lake, "EURUSD", day(0), 50_000)
    footer, gets = read_footer(lake, key)
    assert (footer.rows, gets) == (50_000, 1)
    assert footer.first_ms == day_start_ms(day(0)) and footer.last_ms == day_start_ms(day(0)) + 49_999_000
    tail, total = lake.get_tail(key, 100)
    assert total == size and len(tail) == 100


def test_listing_costs_one_request_per_thousand_keys_on_s3(s3_lake_resource, monkeypatch):
    """The requests reported are the requests the S3 server received: paginated lists, no HEAD, footer GETs."""
    lake = s3_lake_resource.get_lake()
    keys = [f"ticks/EURUSD/2025/11/10/part-{day_start_ms(day(0)) + i:013d}-x.json" for i in range(1_001)]
    with ThreadPoolExecutor(16) as pool:  # legacy JSON parts: listed, never read
        list(pool.map(lambda k: lake.put(k, b"[]"), keys))
    put_part(lake, "EURUSD", day(1), 10)
    calls = {}
    lake.client.meta.events.register(
        "before-call.s3.*", lambda model, **_: calls.update({model.name: calls.get(model.name, 0) + 1})
    )
    monkeypatch.setattr("ticklake_dagster.lake.stats.PROGRESS_EVERY", 500)
    progress = []
    stats = collect_stats(lake, today=TODAY, progress=lambda n, r: progress.append((n, r)))
    (eur,) = stats.symbols
    assert (eur.raw_parts, eur.json_parts) == (1_002, 1_001)
    assert eur.ticks_estimated == round(1_001 * 2 / JSON_BYTES_PER_TICK)  # size-based: "[]" is 2 bytes
    assert eur.ticks == 10 + eur.ticks_estimated
    # ticks/ and ticks_daily/ one level deep, ticks/EURUSD/ in two pages, ticks_daily/symbol=EURUSD/ empty
    assert stats.list_requests == calls["ListObjectsV2"] == 1 + 1 + 2 + 1
    assert stats.footer_reads == calls["GetObject"] == 1
    assert "HeadObject" not in calls
    assert progress == [(500, 3), (1_000, 3)]  # two symbol listings, then the first page of ticks/EURUSD/


def test_a_tail_read_refuses_what_is_not_a_regular_file(file_lake_resource):
    lake = file_lake_resource.get_lake()
    (lake.root / "ticks").mkdir(parents=True)
    os.mkfifo(lake.root / "ticks" / "pipe.parquet")
    with pytest.raises(LakeError, match="not a regular file"):
        lake.get_tail("ticks/pipe.parquet", 100)
    with pytest.raises(LakeError, match="does not exist"):
        lake.get_tail("ticks/none.parquet", 100)
