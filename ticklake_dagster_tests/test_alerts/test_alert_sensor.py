"""Alerts for failed checks and runs posted to a real HTTP server on 127.0.0.1: once each, retried when it is down."""

import datetime as dt
import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import numpy as np
import pytest

from ticklake_dagster.defs.alerts import Alert, AlertSettings, build_payload, send_alerts
from ticklake_dagster.defs.assets import ticks_and_candles
from ticklake_dagster.defs.instance import psycopg2_url
from ticklake_dagster.defs.partitions import partition_key, symbol_partitions_def
from ticklake_dagster.defs.resources import AlertWebhookResource, TicklakeSettings
from ticklake_dagster.defs.schedules import daily_candles_schedule
from ticklake_dagster.defs.sensors import build_alert_sensor
from ticklake_dagster_tests.factories import DAY, random_ticks, write_parquet_parts

WEBSERVER = "http://dagster.example:3000"


class Webhook:
    """A Slack-like incoming webhook: records JSON bodies; answers 503 while `down`."""

    def __init__(self):
        self.posts, self.down, self.attempts = [], False, 0
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.attempts += 1
                if hook.down:
                    self.send_response(503)
                else:
                    hook.posts.append(json.loads(body))
                    self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T000/B000/secret-token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook():
    hook = Webhook()
    yield hook
    hook.close()


@pytest.fixture
def instance(dagster_storage_url):
    """Dagster storage on PostgreSQL, as `ticklake dev` runs it (SQLite's run-sharded log can't list failures
    across runs).
    """
    storage = {"postgres": {"postgres_url": psycopg2_url(dagster_storage_url)}}
    with dg.instance_for_test(overrides={"storage": storage}) as inst:
        inst.add_dynamic_partitions(symbol_partitions_def.name, ["EURUSD"])
        yield inst


def failing_run(lake_resource, database, instance):
    """A day with 30% crossed quotes: r2_ticks' blocking rejected_ratio check fails, and so does the run."""
    ticks = random_ticks(5, n=1000)
    crossed = np.random.default_rng(5).random(1000) < 0.3
    ticks.loc[crossed, "bid"] = ticks.loc[crossed, "ask"] + 0.001
    write_parquet_parts(lake_resource.get_lake(), "EURUSD", ticks, parts=2)
    result = dg.materialize(
        [ticks_and_candles],
        partition_key=partition_key("EURUSD", DAY),
        instance=instance,
        resources={"lake": lake_resource, "database": database, "settings": TicklakeSettings()},
        raise_on_error=False,
    )
    assert not result.success
    return result.run_id


def tick(instance, cursor):
    """One evaluation with the webhook resource read from the environment, as the definitions build it."""
    resources = {"alert_webhook": AlertWebhookResource.from_env()}
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
        return build_alert_sensor()(context).cursor


def test_each_failure_is_posted_once_and_retried_while_the_webhook_is_down(
    file_lake_resource, database, instance, webhook, monkeypatch
):
    monkeypatch.setenv("TICKLAKE_ALERT_WEBHOOK_URL", webhook.url)
    monkeypatch.setenv("DAGSTER_WEBSERVER_URL", WEBSERVER)
    cursor = tick(instance, None)  # the sensor starts: nothing has failed yet
    run_id = failing_run(file_lake_resource, database, instance)

    webhook.down = True
    cursor = tick(instance, cursor)
    assert webhook.posts == [] and webhook.attempts == 1  # stops at the first failed delivery
    cursor = tick(instance, cursor)
    assert webhook.posts == [] and webhook.attempts == 2  # ...and tries the same alert again

    webhook.down = False
    cursor = tick(instance, cursor)
    assert len(webhook.posts) == 2
    check_alert, run_alert = webhook.posts
    text = json.dumps(check_alert)
    for expected in (
        "r2_ticks",
        "rejected_ratio",
        "ERROR",
        str(partition_key("EURUSD", DAY)),
        f"{WEBSERVER}/runs/{run_id}",
    ):
        assert expected in text, expected
    assert "rows rejected" in check_alert["blocks"][2]["text"]["text"]
    assert "run" in run_alert["text"] and f"{WEBSERVER}/runs/{run_id}" in run_alert["text"]
    assert str(partition_key("EURUSD", DAY)) in json.dumps(run_alert)

    tick(instance, cursor)
    tick(instance, cursor)
    assert len(webhook.posts) == 2  # exactly once


def test_a_failure_that_persists_across_reruns_pages_once_until_it_is_resolved(
    file_lake_resource, database, instance, webhook, monkeypatch
):
    """The lake sensor re-runs a live day every few minutes: the same failing check must not page each time."""
    monkeypatch.setenv("TICKLAKE_ALERT_WEBHOOK_URL", webhook.url)
    cursor = tick(instance, None)
    failing_run(file_lake_resource, database, instance)
    cursor = tick(instance, cursor)
    failing_run(file_lake_resource, database, instance)  # more bad parts: still failing
    cursor = tick(instance, cursor)
    assert [p["text"].split(" on ")[0] for p in webhook.posts] == [
        "ticklake: check r2_ticks / rejected_ratio failed (ERROR)",
        "ticklake: run of __ephemeral_asset_job__ failed",
    ]

    lake = file_lake_resource.get_lake()
    for obj in list(lake.list("ticks/EURUSD/")):
        lake.delete(obj.key)
    write_parquet_parts(lake, "EURUSD", random_ticks(6, n=1000), parts=2)
    assert dg.materialize(
        [ticks_and_candles],
        partition_key=partition_key("EURUSD", DAY),
        instance=instance,
        resources={"lake": file_lake_resource, "database": database, "settings": TicklakeSettings()},
    ).success
    cursor = tick(instance, cursor)
    resolved = [p["text"].split(" on ")[0] for p in webhook.posts[2:]]
    assert resolved == [
        "ticklake: check r2_ticks / rejected_ratio passes again (ERROR)",
        "ticklake: run of __ephemeral_asset_job__ succeeded again",
    ]

    failing_run(file_lake_resource, database, instance)  # broken again: a new failure, paged again
    tick(instance, cursor)
    assert len(webhook.posts) == 6 and "rejected_ratio failed" in webhook.posts[4]["text"]


def test_a_dead_feed_reported_by_the_lake_sensor_pages_with_a_link_to_the_checks(instance, webhook, monkeypatch):
    """The lake sensor reports freshness outside any run (the daemon stores it as a runless event)."""
    monkeypatch.setenv("TICKLAKE_ALERT_WEBHOOK_URL", webhook.url)
    monkeypatch.setenv("DAGSTER_WEBSERVER_URL", WEBSERVER)
    cursor = tick(instance, None)
    key = str(partition_key("EURUSD", DAY))
    instance.report_runless_asset_event(
        dg.AssetCheckEvaluation(
            asset_key=dg.AssetKey("candles_5m"),
            check_name="freshness",
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description="no raw parts for EURUSD since 10:00 (120 minutes, limit 30)",
            partition=key,
        )
    )
    cursor = tick(instance, cursor)
    [post] = webhook.posts
    assert f"check candles_5m / freshness failed (WARN) on {key}: no raw parts" in post["text"]
    assert f"{WEBSERVER}/assets/candles_5m?view=checks" in post["text"]


def test_a_webhook_that_refuses_connections_loses_nothing(file_lake_resource, database, instance, webhook, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    monkeypatch.setenv("TICKLAKE_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{closed_port}/hook")
    cursor = tick(instance, None)
    failing_run(file_lake_resource, database, instance)
    cursor = tick(instance, cursor)
    monkeypatch.setenv("TICKLAKE_ALERT_WEBHOOK_URL", webhook.url)
    tick(instance, cursor)
    assert [p["text"].split(":")[1].strip() for p in webhook.posts] == [
        "check r2_ticks / rejected_ratio failed (ERROR) on 2025-11-13|EURUSD",
        "run of __ephemeral_asset_job__ failed on 2025-11-13|EURUSD",
    ]


def test_failures_before_the_first_tick_are_sent_if_recent(
    file_lake_resource, database, instance, webhook, monkeypatch
):
    monkeypatch.setenv("TICKLAKE_ALERT_WEBHOOK_URL", webhook.url)
    failing_run(file_lake_resource, database, instance)
    tick(instance, None)
    assert len(webhook.posts) == 2


def test_without_a_url_alerts_are_logged_and_the_secret_never_is(caplog):
    alert = Alert(
        storage_id=7,
        kind="check",
        run_id="abcdef12-0000",
        job="j",
        asset="candles_5m",
        check="gaps",
        severity="WARN",
        partition="2025-11-13|EURUSD",
        description="12 missing 5-minute buckets",
    )
    log = logging.getLogger("ticklake-test")
    with caplog.at_level(logging.INFO, logger="ticklake-test"):
        cursor, failure = send_alerts([alert], 9, AlertSettings(webhook_url=None), log)
    assert (cursor, failure) == (9, None)
    assert "candles_5m / gaps failed (WARN) on 2025-11-13|EURUSD: 12 missing" in caplog.text

    def down(url, payload, timeout):
        from ticklake_dagster.defs.alerts import AlertDeliveryError

        raise AlertDeliveryError("HTTP 503")

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="ticklake-test"):
        cursor, failure = send_alerts(
            [alert], 9, AlertSettings(webhook_url="https://hooks.example/SECRET"), log, post=down
        )
    assert (cursor, failure) == (6, "HTTP 503") and "SECRET" not in caplog.text


def test_the_webhook_url_reaches_dagster_as_an_env_var_name_not_its_value(monkeypatch):
    monkeypatch.setenv("TICKLAKE_ALERT_WEBHOOK_URL", "https://hooks.example/services/T0/B0/SECRET")
    resource = AlertWebhookResource.from_env()
    assert isinstance(resource.webhook_url, dg.EnvVar) and resource.webhook_url == "TICKLAKE_ALERT_WEBHOOK_URL"
    monkeypatch.delenv("TICKLAKE_ALERT_WEBHOOK_URL")
    assert AlertWebhookResource.from_env().settings().webhook_url is None


def test_payload_is_slack_compatible():
    alert = Alert(
        storage_id=1,
        kind="run",
        run_id="0123456789",
        job="__ASSET_JOB",
        partition="2025-11-13|EURUSD",
        description="boom",
    )
    payload = build_payload(alert, AlertSettings(webserver_url=WEBSERVER))
    assert set(payload) == {"text", "blocks"}
    assert [b["type"] for b in payload["blocks"]] == ["header", "section", "section"]
    assert payload["blocks"][0]["text"]["type"] == "plain_text"
    assert f"<{WEBSERVER}/runs/0123456789|01234567>" in json.dumps(payload["blocks"][1])
    json.dumps(payload)


SECRET = "T000-B000-s3cr3t-t0ken"


class Silent:
    """A listener that accepts connections and never answers: a webhook that hangs."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/services/{SECRET}"

    def close(self):
        self.sock.close()


class Echoing(Webhook):
    """Answers every POST with 404 and a body and header that repeat the request path (the secret)."""

    def __init__(self):
        super().__init__()
        hook = self
        handler = self.server.RequestHandlerClass

        def do_post(request):
            hook.attempts += 1
            body = f"no such hook: {request.path}".encode()
            request.send_response(404)
            request.send_header("X-Requested", request.path)
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            request.wfile.write(body)

        handler.do_POST = do_post
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/{SECRET}"


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/services/{SECRET}"


@pytest.mark.parametrize("kind", ["refused", "http_error", "timeout", "bad_host", "bad_port", "control_character"])
def test_delivery_failures_never_carry_the_webhook_url(kind, caplog):
    """The real delivery path (urllib against loopback servers) failing every way it can, as the lake tests do."""
    from ticklake_dagster.defs.alerts import AlertDeliveryError, post_webhook

    server = {"http_error": Echoing, "timeout": Silent}.get(kind, lambda: None)()
    url = {
        "refused": closed_port_url(),
        "bad_host": f"http://{SECRET}-{'x' * 64}.localhost/services/{SECRET}",  # refused before any lookup
        "bad_port": f"http://127.0.0.1:99999/services/{SECRET}",
        "control_character": f"http://127.0.0.1:1/services/{SECRET}\n",
    }.get(kind) or server.url
    alert = Alert(
        storage_id=7,
        kind="run",
        run_id="abcdef12-0000",
        job="j",
        partition="2025-11-13|EURUSD",
        description="step failed",
    )
    log = logging.getLogger("ticklake-test")
    try:
        with pytest.raises(AlertDeliveryError) as raised:
            post_webhook(url, {"text": "x"}, timeout=1.0)
        with caplog.at_level(logging.INFO, logger="ticklake-test"):
            cursor, failure = send_alerts([alert], 9, AlertSettings(webhook_url=url, timeout_seconds=1.0), log)
    finally:
        if server:
            server.close()
    assert cursor == 6 and failure
    for text in (str(raised.value), failure, caplog.text):
        assert SECRET not in text and "services/" not in text, text


def test_the_alert_sensor_log_never_shows_the_webhook_url(file_lake_resource, database, instance, monkeypatch, capfd):
    """Through the sensor itself: its warning about a failed delivery names the failure, not the URL.

    Dagster's sensor logger writes to its own console handler on stderr, so stderr is what is read.
    """
    hook = Echoing()
    monkeypatch.setenv("TICKLAKE_ALERT_WEBHOOK_URL", hook.url)
    try:
        cursor = tick(instance, None)
        failing_run(file_lake_resource, database, instance)
        capfd.readouterr()
        tick(instance, cursor)
        logged = "".join(capfd.readouterr())
    finally:
        hook.close()
    assert hook.attempts >= 1 and "alert webhook failed (HTTP 404)" in logged
    assert SECRET not in logged


def test_the_schedules_run_on_a_hole_fails_and_pages_with_the_reason(
    file_lake_resource, database, instance, webhook, monkeypatch
):
    """EURUSD had ticks last week and none on Monday, a day its market was open: the 02:00 run fails, and pages."""
    monkeypatch.setenv("TICKLAKE_ALERT_WEBHOOK_URL", webhook.url)
    lake = file_lake_resource.get_lake()
    write_parquet_parts(lake, "EURUSD", random_ticks(8, n=500), parts=1)  # Thursday DAY
    monday = DAY + dt.timedelta(days=4)
    cursor = tick(instance, None)
    resources = {"lake": file_lake_resource, "settings": TicklakeSettings()}
    when = dt.datetime.combine(monday + dt.timedelta(days=1), dt.time(2), dt.timezone.utc)
    with dg.build_schedule_context(instance=instance, scheduled_execution_time=when, resources=resources) as context:
        requests = daily_candles_schedule(context)
    (hole,) = [r for r in requests if r.partition_key == str(partition_key("EURUSD", monday))]
    result = dg.materialize(
        [ticks_and_candles],
        partition_key=hole.partition_key,
        tags=hole.tags,
        instance=instance,
        resources={**resources, "database": database},
        raise_on_error=False,
    )
    assert not result.success
    tick(instance, cursor)
    (page,) = [p for p in webhook.posts if "run of" in p["text"]]
    assert f"no ticks for EURUSD {monday}, a day its market was open" in page["text"]
    assert str(partition_key("EURUSD", monday)) in page["text"]
