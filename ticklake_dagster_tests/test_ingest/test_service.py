"""The ingester service in-process against a real file lake, the moto S3 server and a local WebSocket feed."""

import contextlib
import datetime as dt
import json
import os
import subprocess
import sys

import boto3
import pytest
from botocore.config import Config

from ticklake_dagster.core.days import DAY_MS, day_start_ms
from ticklake_dagster.core.errors import InvalidInput
from ticklake_dagster.defs.resources import IngesterResource, LakeResource
from ticklake_dagster.lake.config import LakeConfig
from ticklake_dagster.sources.ingest.config import IngesterConfig
from ticklake_dagster.sources.ingest.parse import REJECT_REASONS
from ticklake_dagster.sources.ingest.service import IngestService
from ticklake_dagster.sources.ingest.sources import JsonlSource, WebSocketSource, parse_source
from ticklake_dagster.sources.ingest.spool import Spool
from ticklake_dagster_tests import servers
from ticklake_dagster_tests.test_ingest.conftest import (
    Running,
    lake_ticks,
    make_config,
    messages,
    run_to_end,
    scripted,
    spool_segments,
    tick_rows,
    wait_until,
    write_jsonl,
)

DAY = dt.date(2025, 11, 13)
START = day_start_ms(DAY) + 9 * 3_600_000


def good_ticks(n: int, symbols=("EURUSD", "GBPUSD"), start: int = START) -> list[dict]:
    return [
        {
            "symbol": symbols[i % len(symbols)],
            "bid": round(1.1 + i * 1e-5, 5),
            "ask": round(1.1002 + i * 1e-5, 5),
            "timestamp": start + i,
        }
        for i in range(n)
    ]


def expected_rows(ticks: list[dict]) -> list[tuple]:
    return sorted((t["symbol"], t["timestamp"], t["bid"], t["ask"]) for t in ticks)


def test_bad_input_is_counted_by_reason_logged_once_each_and_never_written(tmp_path, file_lake_resource, ingest_logs):
    good = good_ticks(50)
    bad = [
        "{not json",
        "[1, 2]",
        json.dumps({"symbol": "EURUSD", "bid": 1.1, "ask": 1.2}),
        json.dumps({**good[0], "symbol": "../x"}),
        json.dumps({**good[0], "symbol": "../../etc"}),
        json.dumps({**good[0], "bid": "n/a"}),
        '{"symbol": "EURUSD", "bid": NaN, "ask": 1.2, "timestamp": %d}' % START,
        json.dumps({**good[0], "bid": -1}),
        json.dumps({**good[0], "bid": 2.0, "ask": 1.0}),
        json.dumps({**good[0], "bid_volume": -3.0, "ask_volume": 1.0}),
        json.dumps({**good[0], "timestamp": "noon"}),
        json.dumps({**good[0], "timestamp": 600_000_000}),  # 1989 in seconds
        json.dumps({**good[0], "timestamp": 4_102_444_800_000}),  # 2100
    ]
    lines = [json.dumps(t) for t in good[:25]] + bad + bad + [json.dumps(t) for t in good[25:]]
    config = make_config(tmp_path, file_lake_resource, batch_size=20)
    service = run_to_end(config, [JsonlSource(str(write_jsonl(tmp_path / "in.jsonl", lines)))])
    lake = file_lake_resource.get_lake()
    assert tick_rows(lake_ticks(lake)) == expected_rows(good)
    m = service.metrics
    reasons = {r: m.value("ticklake_ingest_ticks_rejected_total", reason=r) for r in REJECT_REASONS}
    assert {r: n for r, n in reasons.items() if n} == {
        "malformed_json": 2,
        "not_a_tick": 4,
        "missing_field": 2,
        "invalid_symbol": 4,
        "invalid_price": 2,
        "non_finite": 2,
        "non_positive": 2,
        "crossed": 2,
        "invalid_volume": 2,
        "invalid_timestamp": 2,
        "too_old": 2,
        "in_future": 2,
    }
    assert m.total("ticklake_ingest_ticks_received_total") == 50 + 2 * 14
    first_samples = messages(ingest_logs, "Rejected tick")
    assert sorted(f["reason"] for f in first_samples) == sorted(r for r, n in reasons.items() if n)
    assert all(len(f["sample"]) <= 120 for f in first_samples)
    assert all(".." not in o.key for o in lake.list(""))
    assert spool_segments(tmp_path / "home") == []


def test_a_batch_spanning_utc_midnight_is_one_part_per_day(tmp_path, file_lake_resource):
    midnight = day_start_ms(DAY) + DAY_MS
    ticks = [
        {"symbol": "EURUSD", "bid": 1.1, "ask": 1.1001, "timestamp": midnight + off} for off in (-2000, -1, 0, 1500)
    ]
    ticks.append({"symbol": "EURUSD", "bid": 1.2, "ask": 1.2001, "timestamp": (midnight - 500) / 1000})  # in seconds
    run_to_end(make_config(tmp_path, file_lake_resource), [JsonlSource(str(write_jsonl(tmp_path / "m.jsonl", ticks)))])
    frame = lake_ticks(file_lake_resource.get_lake())
    assert frame["key"].nunique() == 2
    for day, part in frame.groupby("day"):
        start = day_start_ms(day)
        assert part["ts_ms"].between(start, start + DAY_MS - 1).all()
    assert sorted(frame.groupby("day")["ts_ms"].count().to_dict().items()) == [
        (DAY, 3),
        (DAY + dt.timedelta(days=1), 2),
    ]


def test_degraded_without_credentials_keeps_spooling_then_uploads_on_restart(tmp_path, s3_lake_resource, ingest_logs):
    no_credentials = LakeResource(url=s3_lake_resource.url, endpoint_url=s3_lake_resource.endpoint_url)
    ticks = good_ticks(300)
    source = tmp_path / "t.jsonl"
    write_jsonl(source, ticks)
    service = run_to_end(make_config(tmp_path, no_credentials, batch_size=50), [JsonlSource(str(source))])
    assert len(messages(ingest_logs, "R2 client not available")) == 1
    assert service.health()["degraded"] is True
    assert service.metrics.total("ticklake_ingest_ticks_accepted_total") == 300
    assert lake_ticks(s3_lake_resource.get_lake()).empty
    assert spool_segments(tmp_path / "home")  # everything is waiting in the spool
    run_to_end(make_config(tmp_path, s3_lake_resource, batch_size=50), [])  # credentials back, no source: drain
    assert tick_rows(lake_ticks(s3_lake_resource.get_lake())) == expected_rows(ticks)
    assert spool_segments(tmp_path / "home") == []
    assert messages(ingest_logs, "Replaying spool")[0]["ticks"] == 300


def test_degraded_file_mode_writes_the_local_lake(tmp_path, ingest_logs):
    no_credentials = LakeResource(url="s3://bucket/lake", access_key_id="only-half-of-the-pair")
    ticks = good_ticks(120)
    config = make_config(tmp_path, no_credentials, degraded_mode="file", batch_size=50)
    run_to_end(config, [JsonlSource(str(write_jsonl(tmp_path / "t.jsonl", ticks)))])
    assert tick_rows(lake_ticks(config.fallback_lake())) == expected_rows(ticks)
    assert len(messages(ingest_logs, "R2 client not available")) == 1
    assert "only-half-of-the-pair" not in ingest_logs.text


def test_past_the_disk_budget_new_ticks_are_refused_not_dropped_silently(tmp_path, ingest_logs):
    no_credentials = LakeResource(url="s3://bucket/lake")
    config = make_config(tmp_path, no_credentials, disk_budget_mb=2000 / (1 << 20))  # ~2 kB: about 60 ticks
    source = write_jsonl(tmp_path / "t.jsonl", [json.dumps(t) for t in good_ticks(40)])
    service = run_to_end(config, [JsonlSource(str(source))])
    assert service.metrics.total("ticklake_ingest_ticks_accepted_total") == 40
    service = run_to_end(config, [JsonlSource(str(source))])  # the spool still holds the first 40: no room
    assert service.metrics.value("ticklake_ingest_ticks_rejected_total", reason="spool_full") == 40
    assert service.metrics.total("ticklake_ingest_ticks_accepted_total") == 0
    assert [f["reason"] for f in messages(ingest_logs, "Rejected tick")] == ["spool_full"]
    assert sum(p.stat().st_size for p in spool_segments(tmp_path / "home")) <= 2000


def moto_on(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    servers.wait_for_port(port, proc)
    return proc


def test_an_s3_outage_loses_nothing(tmp_path, ingest_logs):
    port = servers.free_port()
    lake = LakeResource(
        url="s3://outage/lake",
        endpoint_url=f"http://127.0.0.1:{port}",
        access_key_id="test",
        secret_access_key="test",
        region_name="us-east-1",
        max_attempts=1,
        connect_timeout=0.5,
    )
    ticks = good_ticks(3000, symbols=("EURUSD", "GBPUSD", "USDJPY"))
    config = make_config(tmp_path, lake, batch_size=400)
    running = Running(
        IngestService(config, [JsonlSource(str(write_jsonl(tmp_path / "t.jsonl", ticks)))], handle_signals=False)
    )
    m = running.service.metrics
    # The lake is down: ticks are still accepted into the spool, uploads fail and are retried.
    wait_until(
        lambda: (
            m.total("ticklake_ingest_ticks_accepted_total") == 3000
            and m.total("ticklake_ingest_upload_failures_total") >= 6
        ),
        what="accepted ticks and failed uploads",
    )
    assert m.total("ticklake_ingest_parts_uploaded_total") == 0
    moto = moto_on(port)
    try:
        client = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(request_checksum_calculation="when_required"),
        )
        client.create_bucket(Bucket="outage")
        assert running.join() == 0
        assert tick_rows(lake_ticks(lake.get_lake())) == expected_rows(ticks)  # each tick exactly once
    finally:
        moto.terminate()
        moto.wait(10)
    failures = messages(ingest_logs, "Failed to upload batch to R2")
    assert failures and all(
        f["reason"].startswith(("Lake unreachable", "Lake bucket does not exist")) for f in failures
    )
    assert spool_segments(tmp_path / "home") == []


def test_websocket_feed_with_a_reconnect_lands_every_tick_in_s3(tmp_path, s3_lake_resource, ingest_logs, ws_feed):
    ticks = good_ticks(500, symbols=("EURUSD", "BTC-USD"))
    as_seconds = [{**t, "timestamp": t["timestamp"] / 1000} for t in ticks[100:200]]
    as_iso = [
        {**t, "timestamp": dt.datetime.fromtimestamp(t["timestamp"] / 1000, dt.timezone.utc).isoformat()}
        for t in ticks[200:300]
    ]
    first = (
        [json.dumps(t) for t in ticks[:100]]
        + [json.dumps(as_seconds)]
        + [json.dumps(as_iso[i : i + 10]) for i in range(0, 100, 10)]
    )
    second = ["not json", json.dumps({"symbol": "../x", "bid": 1, "ask": 2, "timestamp": START})] + [
        json.dumps(ticks[i : i + 7]) for i in range(300, 500, 7)
    ]
    subscribes: list[str] = []
    feed = ws_feed(scripted([first, second], close_after={0}, subscribes=subscribes))
    subscribe = json.dumps({"op": "subscribe", "symbols": ["EURUSD", "BTC-USD"]})
    config = make_config(tmp_path, s3_lake_resource, batch_size=64, batch_max_age_seconds=0.3)
    source = parse_source(f"ws://127.0.0.1:{feed.port}/feed?apikey=SECRET-IN-URL", subscribe=subscribe)
    assert isinstance(source, WebSocketSource) and "SECRET" not in source.describe()
    source.backoff.base, source.backoff.cap = 0.05, 0.2
    running = Running(IngestService(config, [source], handle_signals=False, metrics_port=0))
    m = running.service.metrics
    wait_until(lambda: m.total("ticklake_ingest_ticks_uploaded_total") >= 500, what="500 ticks uploaded")
    assert running.stop() == 0
    assert tick_rows(lake_ticks(s3_lake_resource.get_lake())) == expected_rows(ticks)
    assert subscribes == [subscribe, subscribe] and feed.connections == 2
    assert len(messages(ingest_logs, "WebSocket disconnected")) == 1
    assert m.total("ticklake_ingest_source_disconnects_total") == 1
    assert m.total("ticklake_ingest_ticks_rejected_total") == 2
    uploads = messages(ingest_logs, "Uploaded ticks to R2")
    assert {"symbol", "count", "key"} <= set(uploads[0]) and sum(u["count"] for u in uploads) == 500
    assert "SECRET-IN-URL" not in ingest_logs.text and "test" not in json.dumps(
        messages(ingest_logs, "R2 client initialized")
    )


def test_metrics_and_health_endpoints(tmp_path, file_lake_resource):
    from ticklake_dagster_tests.test_ingest.conftest import metric, scrape

    read, write = os.pipe()
    running = None
    try:
        source = JsonlSource(f"/dev/fd/{read}")
        config = make_config(tmp_path, file_lake_resource, batch_size=3)
        running = Running(IngestService(config, [source], handle_signals=False, metrics_port=0))
        port = running.service.metrics_port
        with open(write, "wb", closefd=False) as w:
            w.write(b"".join(json.dumps(t).encode() + b"\n" for t in good_ticks(7)) + b"{bad\n")
        wait_until(lambda: metric(port, "ticklake_ingest_ticks_uploaded_total") == 6, what="two parts uploaded")
        text = scrape(port)
        assert 'ticklake_ingest_ticks_accepted_total{symbol="EURUSD"} 4.0' in text
        assert 'ticklake_ingest_ticks_rejected_total{reason="malformed_json"} 1.0' in text
        assert 'ticklake_ingest_parts_uploaded_total{symbol="GBPUSD"} 1.0' in text
        assert "ticklake_ingest_last_upload_timestamp_seconds" in text and "ticklake_ingest_spool_bytes" in text
        health = json.loads(scrape(port, "/health"))
        assert health["status"] == "ok" and health["ticks_accepted"] == 7 and health["batched_ticks"] == 1
    finally:
        os.close(write)
        if running is not None:
            assert running.join() == 0  # end of input: the last tick is flushed too
        os.close(read)
    assert len(lake_ticks(file_lake_resource.get_lake())) == 7


def test_source_specs_are_checked_with_one_line_errors(tmp_path):
    assert parse_source("synthetic:EURUSD,GBPUSD@50").describe() == "synthetic:EURUSD,GBPUSD@50"
    for spec, message in [
        ("synthetic:../x@5", "Invalid symbol"),
        ("synthetic:EURUSD@0", "RATE must be"),
        ("synthetic:EURUSD", "expected synthetic:"),
        ("jsonl:", "needs a path"),
        (f"jsonl:{tmp_path}/missing.jsonl", "No such file or directory"),
        ("http://example.com", "Unknown source"),
        ("ws://", "has no host"),
    ]:
        with pytest.raises(InvalidInput, match=message):
            parse_source(spec)


def test_ingester_resource_from_env_and_in_definitions(monkeypatch, tmp_path):
    monkeypatch.setenv("TICKLAKE_HOME", str(tmp_path))
    monkeypatch.setenv("TICKLAKE_INGEST_BATCH_SIZE", "250")
    monkeypatch.setenv("TICKLAKE_INGEST_DEGRADED_MODE", "file")
    for name in ("TICKLAKE_LAKE_URL", "R2_BUCKET_NAME", "TICKLAKE_INGEST_SPOOL_DIR"):
        monkeypatch.delenv(name, raising=False)
    config = IngesterResource.from_env(batch_max_age_seconds=12.5)
    assert (config.batch_size, config.batch_max_age_seconds, config.degraded_mode) == (250, 12.5, "file")
    assert config.resolved_spool_dir() == tmp_path / "spool" and config.lake.url == f"file://{tmp_path / 'lake'}"
    monkeypatch.setenv("TICKLAKE_INGEST_BATCH_SIZE", "lots")
    with pytest.raises(InvalidInput, match="TICKLAKE_INGEST_BATCH_SIZE"):
        IngesterResource.from_env()
    monkeypatch.setenv("TICKLAKE_INGEST_BATCH_SIZE", "0")
    with pytest.raises(InvalidInput, match="batch_size"):
        IngesterResource.from_env()
    monkeypatch.delenv("TICKLAKE_INGEST_BATCH_SIZE")
    from ticklake_dagster.definitions import build_resources

    resources = build_resources()
    assert resources["ingester"].lake is resources["lake"]
    with contextlib.suppress(Exception):
        Spool(tmp_path / "x").close()


def test_the_cli_config_has_the_resource_fields_and_messages(monkeypatch, tmp_path):
    """`IngesterConfig` (plain, with a `LakeConfig`; what `ticklake ingest` reads) is the resource without Dagster."""
    monkeypatch.setenv("TICKLAKE_HOME", str(tmp_path))
    monkeypatch.setenv("TICKLAKE_INGEST_BATCH_SIZE", "250")
    for name in ("TICKLAKE_LAKE_URL", "R2_BUCKET_NAME", "TICKLAKE_INGEST_SPOOL_DIR"):
        monkeypatch.delenv(name, raising=False)
    config, resource = IngesterConfig.from_env(give_up_seconds=7.0), IngesterResource.from_env(give_up_seconds=7.0)
    assert config.model_dump(exclude={"lake"}) == resource.model_dump(exclude={"lake"})
    assert (config.batch_size, config.give_up_seconds) == (250, 7.0)
    assert isinstance(config.lake, LakeConfig) and config.lake.url == resource.lake.url == f"file://{tmp_path / 'lake'}"
    assert config.resolved_spool_dir() == resource.resolved_spool_dir() == tmp_path / "spool"
    assert not config.degraded and IngesterConfig.from_env(lake=LakeConfig("s3://ticks")).degraded
    assert config.fallback_lake().describe() == resource.fallback_lake().describe()
    for cls in (IngesterConfig, IngesterResource):
        with pytest.raises(InvalidInput, match="^Invalid ingester setting batch_size: Input should be greater than"):
            cls.from_env(batch_size=0)
        with pytest.raises(InvalidInput, match="^Invalid ingester setting degraded_mode: Input should be 'spool' or "):
            cls.from_env(degraded_mode="drop")
        monkeypatch.setenv("TICKLAKE_INGEST_BATCH_SIZE", "lots")
        with pytest.raises(InvalidInput, match="TICKLAKE_INGEST_BATCH_SIZE"):
            cls.from_env()
        monkeypatch.setenv("TICKLAKE_INGEST_BATCH_SIZE", "250")
