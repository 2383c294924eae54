"""The commit path under hostile input and faults: nothing acknowledged is lost, nothing fails silently."""

import asyncio
import json
import threading
import urllib.error
import urllib.request

from ticklake_dagster.sources.ingest.metrics import IngestMetrics, MetricsServer
from ticklake_dagster.sources.ingest.service import IngestService
from ticklake_dagster.sources.ingest.sources import JsonlSource, WebSocketSource
from ticklake_dagster_tests.test_ingest.conftest import (
    Running,
    lake_ticks,
    make_config,
    messages,
    run_to_end,
    scrape,
    tick_rows,
    wait_until,
    write_jsonl,
)
from ticklake_dagster_tests.test_ingest.test_service import START, expected_rows, good_ticks

REJECTED = "ticklake_ingest_ticks_rejected_total"


def many_symbols_message(n: int = 65_536) -> str:
    """One JSON array with a tick for each of n distinct, individually valid symbols."""
    return json.dumps([{"symbol": f"S{i:05d}", "bid": 1.0, "ask": 1.1, "timestamp": START} for i in range(n)])


def around(n: int = 500) -> tuple[list[dict], list[dict]]:
    return good_ticks(n, ("EURUSD",)), good_ticks(n, ("EURUSD",), start=START + 10 * n)


def test_a_message_with_65536_symbols_from_a_file_is_rejected_by_reason_and_the_ticks_around_it_land(
    tmp_path,
    file_lake_resource,
    ingest_logs,
):
    before, after = around()
    lines = [json.dumps(t) for t in before] + [many_symbols_message()] + [json.dumps(t) for t in after]
    # A long commit window: the good ticks share one group commit with the hostile message.
    config = make_config(tmp_path, file_lake_resource, flush_latency_ms=2000)
    service = run_to_end(config, [JsonlSource(str(write_jsonl(tmp_path / "in.jsonl", lines)))])
    assert tick_rows(lake_ticks(file_lake_resource.get_lake())) == expected_rows(before + after)
    m = service.metrics
    assert m.value(REJECTED, reason="too_many_symbols") == 65_536 and m.total(REJECTED) == 65_536
    assert m.total("ticklake_ingest_ticks_accepted_total") == 1000
    assert [f["reason"] for f in messages(ingest_logs, "Rejected tick")] == ["too_many_symbols"]


def test_a_message_with_65536_symbols_from_a_websocket_leaves_the_ingester_accepting(
    tmp_path,
    file_lake_resource,
    ws_feed,
):
    before, after = around()
    feed = ws_feed(lambda ws, n: _send_all(ws, [json.dumps(before), many_symbols_message(), json.dumps(after)]))
    config = make_config(tmp_path, file_lake_resource, batch_max_age_seconds=0.2)
    running = Running(IngestService(config, [WebSocketSource(feed.url)], handle_signals=False, metrics_port=0))
    m = running.service.metrics
    try:
        wait_until(
            lambda: m.total("ticklake_ingest_ticks_uploaded_total") >= 1000,
            timeout=20,
            what="the ticks before and after the hostile message in the lake",
        )
        assert json.loads(scrape(running.service.metrics_port, "/health"))["status"] == "ok"
    finally:
        assert running.stop() == 0
    assert tick_rows(lake_ticks(file_lake_resource.get_lake())) == expected_rows(before + after)
    assert m.value(REJECTED, reason="too_many_symbols") == 65_536


async def _send_all(ws, payloads: list[str]) -> None:
    for payload in payloads:
        await ws.send(payload)
    await ws.wait_closed()


def test_an_unforeseen_commit_failure_stops_the_ingester_loudly_and_loses_no_acknowledged_tick(
    tmp_path,
    file_lake_resource,
    ws_feed,
    ingest_logs,
    monkeypatch,
):
    first, second = around(50)
    go = threading.Event()

    async def handler(ws, n):
        await ws.send(json.dumps(first))
        while not go.is_set():
            await asyncio.sleep(0.01)
        await ws.send(json.dumps(second))
        await ws.wait_closed()

    feed = ws_feed(handler)
    config = make_config(tmp_path, file_lake_resource, batch_size=10_000, batch_max_age_seconds=3600)
    service = IngestService(config, [WebSocketSource(feed.url)], handle_signals=False)
    running = Running(service)
    try:
        wait_until(lambda: service.metrics.total("ticklake_ingest_ticks_accepted_total") == 50, what="first commit")

        def broken_append(block):
            raise RuntimeError("controller reset")

        monkeypatch.setattr(service.spool, "append", broken_append)  # this service's spool only
    finally:
        go.set()
    assert running.join(30) == 1  # ends by itself: no stall behind a dead committer
    assert service.health()["status"] == "failed"
    failed = messages(ingest_logs, "Ingester failed: stopping")
    assert failed and "RuntimeError: controller reset" in failed[0]["reason"]
    assert any(r.levelname == "ERROR" for r in ingest_logs.records if r.getMessage() == "Ingester failed: stopping")
    assert service.metrics.total("ticklake_ingest_ticks_accepted_total") == 50
    run_to_end(make_config(tmp_path, file_lake_resource), [])  # restart: the spool's acknowledged ticks land
    assert tick_rows(lake_ticks(file_lake_resource.get_lake())) == expected_rows(first)


def test_health_answers_503_once_the_ingester_failed():
    state = {"status": "ok"}
    server = MetricsServer(IngestMetrics(), lambda: dict(state), 0, "127.0.0.1")
    try:
        assert json.loads(scrape(server.port, "/health"))["status"] == "ok"
        state["status"] = "failed"
        try:
            scrape(server.port, "/health")
            raise AssertionError("a failed ingester answered /health with 200")
        except urllib.error.HTTPError as e:
            assert e.code == 503 and json.loads(e.read())["status"] == "failed"
    finally:
        server.close()
