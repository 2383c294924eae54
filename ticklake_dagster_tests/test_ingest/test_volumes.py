"""Volumes end to end: a feed's bid_volume/ask_volume through parse, spool, batches and parts into a real lake.

Parts are read back with pyarrow, independently of the ingester: a part carries nullable volume columns
when any of its ticks had a volume (null where one had none), and keeps the three tick columns otherwise.
"""

import datetime as dt
import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ticklake_dagster.core.days import day_start_ms
from ticklake_dagster.defs.resources import LakeResource
from ticklake_dagster.lake.keys import RAW_ROOT, parse_raw_part_key
from ticklake_dagster.lake.parts import DAILY_SCHEMA, TICK_SCHEMA, read_part, read_parts_data, ticks_to_parquet
from ticklake_dagster.sources.ingest.service import IngestService
from ticklake_dagster.sources.ingest.sources import JsonlSource, WebSocketSource, parse_source
from ticklake_dagster.ticks.compaction import compact_day
from ticklake_dagster_tests.test_ingest.conftest import (
    Running,
    make_config,
    messages,
    run_to_end,
    scripted,
    spool_segments,
    wait_until,
    write_jsonl,
)
from ticklake_dagster_tests.test_ingest.test_spool_corruption import OLD_FRAME, OLD_ROWS

DAY = dt.date(2025, 11, 13)
START = day_start_ms(DAY) + 9 * 3_600_000


def feed_ticks(n: int, symbols=("EURUSD", "GBPUSD"), start: int = START) -> list[dict]:
    """n ticks; on the first symbol most carry volumes (some one side only, some none), the others carry none."""
    ticks = []
    for i in range(n):
        tick = {
            "symbol": symbols[i % len(symbols)],
            "bid": round(1.1 + i * 1e-5, 5),
            "ask": round(1.1002 + i * 1e-5, 5),
            "timestamp": start + i,
        }
        if tick["symbol"] == symbols[0]:
            kind = i % 7
            if kind in (0, 1, 2, 3):
                tick["bid_volume"], tick["ask_volume"] = 1_000_000.0 + i, 250_000.5 + i
            elif kind == 4:
                tick["bid_volume"] = i  # only one side, an integer
            elif kind == 5:
                tick["ask_volume"], tick["bid_volume"] = 0.5, None  # null is no volume
        ticks.append(tick)
    return ticks


def sent_volumes(tick: dict) -> tuple:
    return tuple(None if tick.get(name) is None else float(tick[name]) for name in ("bid_volume", "ask_volume"))


def lake_parts(lake) -> list[tuple[str, pa.Table]]:
    """(symbol, table as stored) of every raw part in the lake."""
    out = []
    for obj in lake.list(RAW_ROOT):
        parsed = parse_raw_part_key(obj.key)
        assert parsed is not None, obj.key
        out.append((parsed[0], pq.read_table(pa.BufferReader(lake.get(obj.key)))))
    return out


def assert_lake_holds(lake, ticks: list[dict]) -> None:
    """Every tick exactly once, with its volumes (null where none); volume columns only in parts that need them."""
    sent = {(t["symbol"], t["timestamp"]): t for t in ticks}
    seen = []
    for symbol, table in lake_parts(lake):
        rows = table.to_pylist()
        part = [sent[(symbol, int(r["ts"].timestamp() * 1000))] for r in rows]
        if any(sent_volumes(t) != (None, None) for t in part):
            assert table.schema.equals(DAILY_SCHEMA), table.schema
            assert [(r["bid_volume"], r["ask_volume"]) for r in rows] == [sent_volumes(t) for t in part]
        else:
            assert table.schema.equals(TICK_SCHEMA), table.schema  # today's 3 columns, as before volumes
        assert [(r["bid"], r["ask"]) for r in rows] == [(t["bid"], t["ask"]) for t in part]
        seen += [(symbol, t["timestamp"]) for t in part]
    assert sorted(seen) == sorted(sent)


def test_volumes_from_a_feed_land_in_the_parts_null_where_a_tick_had_none(tmp_path, file_lake_resource, ingest_logs):
    ticks = feed_ticks(400)
    bad = [
        {**ticks[0], "timestamp": START + 10_000, "bid_volume": -1},
        {**ticks[0], "timestamp": START + 10_001, "ask_volume": "lots"},
        {**ticks[1], "timestamp": START + 10_002, "bid_volume": True},
        {**ticks[0], "timestamp": START + 10_003, "bid_volume": 1e999},
    ]
    lines = [json.dumps(t) for t in ticks[:200]] + [json.dumps(b) for b in bad] + [json.dumps(ticks[200:])]
    config = make_config(tmp_path, file_lake_resource, batch_size=64)
    service = run_to_end(config, [JsonlSource(str(write_jsonl(tmp_path / "in.jsonl", lines)))])
    lake = file_lake_resource.get_lake()
    assert_lake_holds(lake, ticks)
    parts = lake_parts(lake)
    assert {len(t.schema) for s, t in parts if s == "EURUSD"} == {5} and {len(t.schema) for s, t in parts} == {3, 5}
    m = service.metrics
    assert m.value("ticklake_ingest_ticks_rejected_total", reason="invalid_volume") == 4
    assert m.total("ticklake_ingest_ticks_rejected_total") == 4
    assert m.total("ticklake_ingest_ticks_received_total") == 404
    assert m.total("ticklake_ingest_ticks_uploaded_total") == 400
    [first] = [f for f in messages(ingest_logs, "Rejected tick") if f["reason"] == "invalid_volume"]
    assert '"bid_volume": -1' in first["sample"]
    assert spool_segments(tmp_path / "home") == []
    # The lake's own readers take the mixed parts: the day's raw ticks, then its compacted file.
    raw = read_parts_data([(o.key, lake.get(o.key)) for o in lake.list(RAW_ROOT) if "/EURUSD/" in o.key])
    by_ts = dict(
        zip(raw.column("ts_ms").to_pylist(), zip(*(raw.column(n).to_pylist() for n in DAILY_SCHEMA.names[3:])))
    )
    for t in ticks:
        if t["symbol"] == "EURUSD":
            assert tuple(None if math.isnan(v) else v for v in by_ts[t["timestamp"]]) == sent_volumes(t)
    day = compact_day(lake, "EURUSD", DAY).ticks
    assert day["bid_volume"].sum() == sum(sent_volumes(t)[0] or 0 for t in ticks if t["symbol"] == "EURUSD")
    assert day["ask_volume"].isna().sum() == sum(sent_volumes(t)[1] is None for t in ticks if t["symbol"] == "EURUSD")


def test_volumes_over_a_websocket_feed_land_in_s3(tmp_path, s3_lake_resource, ws_feed):
    ticks = feed_ticks(300, symbols=("BTC-USD", "EURUSD"))
    script = [json.dumps(ticks[i : i + 9]) for i in range(0, 300, 9)]
    script.insert(5, json.dumps({**ticks[0], "timestamp": START + 99_999, "ask_volume": -0.001}))
    feed = ws_feed(scripted([script]))
    config = make_config(tmp_path, s3_lake_resource, batch_size=50, batch_max_age_seconds=0.3)
    source = parse_source(feed.url)
    assert isinstance(source, WebSocketSource)
    source.backoff.base, source.backoff.cap = 0.05, 0.2
    running = Running(IngestService(config, [source], handle_signals=False))
    m = running.service.metrics
    wait_until(lambda: m.total("ticklake_ingest_ticks_uploaded_total") >= 300, what="300 ticks uploaded")
    assert running.stop() == 0
    assert_lake_holds(s3_lake_resource.get_lake(), ticks)
    assert m.value("ticklake_ingest_ticks_rejected_total", reason="invalid_volume") == 1


def test_volumes_spooled_without_credentials_reach_s3_on_restart(tmp_path, s3_lake_resource, ingest_logs):
    no_credentials = LakeResource(url=s3_lake_resource.url, endpoint_url=s3_lake_resource.endpoint_url)
    ticks = feed_ticks(250)
    source = JsonlSource(str(write_jsonl(tmp_path / "t.jsonl", ticks)))
    run_to_end(make_config(tmp_path, no_credentials, batch_size=40), [source])
    segments = spool_segments(tmp_path / "home")
    assert segments and all(b"TLK3" in p.read_bytes() for p in segments)  # the volumes are in the spool
    run_to_end(make_config(tmp_path, s3_lake_resource, batch_size=40), [])  # credentials back: drain
    assert_lake_holds(s3_lake_resource.get_lake(), ticks)
    assert spool_segments(tmp_path / "home") == []
    assert messages(ingest_logs, "Replaying spool")[0]["ticks"] == 250


def test_a_spool_left_by_the_version_before_volumes_lands_next_to_new_ticks(tmp_path, file_lake_resource):
    spool = tmp_path / "home" / "spool"
    spool.mkdir(parents=True)
    (spool / "000000000001.wal").write_bytes(OLD_FRAME)  # accepted before the upgrade, not yet uploaded
    ticks = [
        {"symbol": "EURUSD", "bid": 1.1, "ask": 1.1002, "timestamp": OLD_ROWS[-1][1] + i + 1, "bid_volume": 7.0 + i}
        for i in range(3)
    ]
    run_to_end(make_config(tmp_path, file_lake_resource), [JsonlSource(str(write_jsonl(tmp_path / "t.jsonl", ticks)))])
    lake = file_lake_resource.get_lake()
    rows = sorted(
        (s, int(r["ts"].timestamp() * 1000), r["bid"], r["ask"], r.get("bid_volume"), r.get("ask_volume"))
        for s, t in lake_parts(lake)
        for r in t.to_pylist()
    )
    assert rows == sorted(
        [(*r, None, None) for r in OLD_ROWS]
        + [("EURUSD", t["timestamp"], t["bid"], t["ask"], t["bid_volume"], None) for t in ticks]
    )
    assert spool_segments(tmp_path / "home") == []


def test_parts_of_a_feed_without_volumes_are_unchanged(tmp_path, file_lake_resource):
    ticks = [{k: v for k, v in t.items() if "volume" not in k} for t in feed_ticks(200)]
    run_to_end(
        make_config(tmp_path, file_lake_resource, batch_size=50),
        [JsonlSource(str(write_jsonl(tmp_path / "p.jsonl", ticks)))],
    )
    parts = lake_parts(file_lake_resource.get_lake())
    assert len(parts) == 4 and all(t.schema.equals(TICK_SCHEMA) for _, t in parts)
    assert all(np.isfinite(t.column("bid").to_numpy()).all() for _, t in parts)


def test_the_part_writer_adds_volume_columns_only_when_a_tick_has_one():
    ts, bid, ask = np.array([START, START + 1, START + 2]), np.array([1.1, 1.2, 1.3]), np.array([1.2, 1.3, 1.4])
    none = np.full(3, np.nan)
    plain = ticks_to_parquet(ts, bid, ask)
    assert ticks_to_parquet(ts, bid, ask, none, none) == plain  # all NaN: the 3-column part, byte for byte
    assert pq.read_table(pa.BufferReader(plain)).schema.equals(TICK_SCHEMA)
    one = ticks_to_parquet(ts, bid, ask, np.array([np.nan, 2.5, np.nan]), none)
    table = pq.read_table(pa.BufferReader(one))
    assert table.schema.equals(DAILY_SCHEMA)
    assert table.column("bid_volume").to_pylist() == [None, 2.5, None]
    assert table.column("ask_volume").null_count == 3
    back = read_part("one.parquet", one)
    assert back.column("ts_ms").to_pylist() == ts.tolist() and back.column("ask").to_pylist() == ask.tolist()
    assert np.array_equal(back.column("bid_volume").to_numpy(), [np.nan, 2.5, np.nan], equal_nan=True)
