"""Alerts for failed asset checks and failed runs: read from the instance event log, posted as Slack-compatible JSON.

Open-source Dagster raises nothing for a failing non-blocking check, so the alert sensor reads the
event log itself. Its cursor is the event-log storage id up to which every alert was delivered: a
webhook that is down leaves the cursor where it was and the next tick retries; nothing is lost and
nothing is sent twice (unless the daemon dies between the POST and saving the cursor).

A failure is a check (or a job) going from passing to failing on a partition: the lake sensor re-runs
a live day every few minutes, and a check that stays failing on every re-run pages once, not each time.
The cursor remembers what is failing; a later passing evaluation (or successful run) clears it, posts a
"resolved" message, and the next failure pages again.
"""

import dataclasses
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request

import dagster as dg

from ticklake_dagster.core.redaction import redact
from ticklake_dagster.core.settings import setting
from ticklake_dagster.defs.partitions import run_partition_label

DEFAULT_WEBSERVER_URL = str(setting("DAGSTER_WEBSERVER_URL").default)


@dataclasses.dataclass(frozen=True)
class AlertSettings:
    """What delivery needs; AlertWebhookResource builds it from the environment."""

    webhook_url: str | None = None
    webserver_url: str = DEFAULT_WEBSERVER_URL
    batch: int = 50  # events read per stream per tick
    max_open: int = 5000  # failing (check, partition) pairs remembered; the oldest are forgotten past it
    first_lookback_seconds: float = 3600.0  # on the very first tick, failures this recent are still sent
    timeout_seconds: float = 10.0


@dataclasses.dataclass(frozen=True)
class Alert:
    storage_id: int
    kind: str  # "check" or "run"
    run_id: str
    job: str | None = None
    asset: str | None = None
    check: str | None = None
    severity: str | None = None
    partition: str | None = None
    description: str | None = None
    passed: bool = False  # a passing evaluation or successful run: resolves an open failure, never pages

    @property
    def key(self) -> str:
        """What a failure is about: a check on a partition, or a job on a partition."""
        subject = f"{self.asset}/{self.check}" if self.kind == "check" else f"job:{self.job}"
        return f"{subject}@{self.partition or ''}"

    def title(self) -> str:
        if self.kind == "check":
            return (
                f"ticklake: check {self.asset} / {self.check} {'passes again' if self.passed else 'failed'} "
                f"({self.severity})"
            )
        return f"ticklake: run of {self.job} {'succeeded again' if self.passed else 'failed'}"


def alert_url(settings: AlertSettings, alert: "Alert") -> str:
    """The run in the UI; for an evaluation reported outside a run (the lake sensor's feed watch), the asset's
    checks.
    """
    if alert.run_id:
        return f"{settings.webserver_url}/runs/{alert.run_id}"
    return f"{settings.webserver_url}/assets/{alert.asset}?view=checks"


def build_payload(alert: Alert, settings: AlertSettings) -> dict:
    """Slack incoming-webhook JSON: a `text` fallback plus blocks with every field and the run link."""
    url = alert_url(settings, alert)
    fields = [
        ("Asset", alert.asset),
        ("Check", alert.check),
        ("Severity", alert.severity),
        ("Partition", alert.partition),
        ("Job", alert.job),
        ("Run", f"<{url}|{alert.run_id[:8]}>") if alert.run_id else ("Reported by", f"<{url}|lake_sensor>"),
    ]
    description = (alert.description or "no description")[:2900]
    text = f"{alert.title()}" + (f" on {alert.partition}" if alert.partition else "") + f": {description} {url}"
    return {
        "text": text[:3000],
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": alert.title()[:150]}},
            {
                "type": "section",
                "fields": [{"type": "mrkdwn", "text": f"*{name}*\n{value}"} for name, value in fields if value],
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": description}},
        ],
    }


def post_webhook(url: str, payload: dict, timeout: float) -> None:
    """POST the JSON; raises AlertDeliveryError (without the URL, which is a secret) on any failure."""
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as e:
        raise AlertDeliveryError(f"HTTP {e.code}") from None
    except Exception as e:  # also what urllib lets through: a bad port, a host name idna refuses, a bad URL
        reason = getattr(e, "reason", e)
        text = f"{type(reason).__name__}: {getattr(reason, 'strerror', None) or reason}"
        raise AlertDeliveryError(
            redact(text.splitlines()[0] if text.strip() else type(reason).__name__, _url_secrets(url))
        ) from None


def _url_secrets(url: str) -> list[str]:
    """The webhook URL and the parts of it that carry its token (host, path, query)."""
    parts = urllib.parse.urlsplit(url.strip()) if isinstance(url, str) else None
    return [url, url.strip(), *(p for p in (parts.netloc, parts.path, parts.query) if p and p != "/")] if parts else []


class AlertDeliveryError(Exception):
    pass


def _partition_of_run(run: dg.DagsterRun | None) -> str | None:
    if run is None:
        return None
    return run_partition_label(run.tags)


def _check_alert(record, instance: dg.DagsterInstance) -> Alert:
    evaluation = record.event_log_entry.dagster_event.event_specific_data
    meta = {k: v.value for k, v in (evaluation.metadata or {}).items()}
    run_id = record.event_log_entry.run_id
    partition = (
        evaluation.partition
        or meta.get("failed_partitions")
        or (_partition_of_run(instance.get_run_by_id(run_id)) if run_id else None)
    )
    return Alert(
        storage_id=record.storage_id,
        kind="check",
        run_id=record.event_log_entry.run_id,
        job=record.event_log_entry.job_name,
        asset=evaluation.asset_key.to_user_string(),
        check=evaluation.check_name,
        severity=evaluation.severity.value,
        partition=partition,
        description=evaluation.description,
        passed=evaluation.passed,
    )


def _run_alert(record, instance: dg.DagsterInstance) -> Alert:
    entry = record.event_log_entry
    event = entry.dagster_event
    if event.event_type == dg.DagsterEventType.RUN_SUCCESS:
        return Alert(
            storage_id=record.storage_id,
            kind="run",
            run_id=entry.run_id,
            job=entry.job_name,
            partition=_partition_of_run(instance.get_run_by_id(entry.run_id)),
            description="the run succeeded",
            passed=True,
        )
    error = getattr(event.event_specific_data, "error", None)
    description = event.message or ""
    if error is not None and getattr(error, "message", None):
        description = f"{description} {error.message.strip().splitlines()[0]}".strip()
    elif reason := step_failure_reason(instance, entry.run_id):
        description = f"{description} {reason}".strip()
    return Alert(
        storage_id=record.storage_id,
        kind="run",
        run_id=entry.run_id,
        job=entry.job_name,
        partition=_partition_of_run(instance.get_run_by_id(entry.run_id)),
        description=description or "run failed",
    )


def step_failure_reason(instance: dg.DagsterInstance, run_id: str) -> str | None:
    """Why the run's first failed step failed (a hole's "no ticks for ..."): the run failure itself only names
    the step.
    """
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        error = entry.dagster_event.step_failure_data.error if entry.dagster_event else None
        if error is not None and error.message.strip():
            return error.message.strip().splitlines()[0]
    return None


def collect_alerts(instance: dg.DagsterInstance, after: int | None, settings: AlertSettings) -> tuple[list[Alert], int]:
    """Failures logged after storage id `after`, in log order, and the id up to which the log was read.

    Three streams (check evaluations, run failures, run successes) are read with a limit each; the
    horizon stops at the shortest one's end so a later tick never skips an event of another.
    Passing evaluations and successes come back too (`passed=True`): they resolve open failures.
    """
    storage = instance.event_log_storage
    streams = []
    for event_type in (
        dg.DagsterEventType.ASSET_CHECK_EVALUATION,
        dg.DagsterEventType.RUN_FAILURE,
        dg.DagsterEventType.RUN_SUCCESS,
    ):
        if after is None:
            flt = dg.EventRecordsFilter(
                event_type=event_type, after_timestamp=time.time() - settings.first_lookback_seconds
            )
        else:
            flt = dg.EventRecordsFilter(event_type=event_type, after_cursor=after)
        streams.append(list(storage.get_event_records(flt, limit=settings.batch, ascending=True)))
    full = [s[-1].storage_id for s in streams if len(s) == settings.batch]
    if full:
        horizon = min(full)
    elif any(streams):
        horizon = max(s[-1].storage_id for s in streams if s)
    elif after is None:
        horizon = storage.get_maximum_record_id() or 0  # start from now, not from the beginning of history
    else:
        horizon = after
    alerts = []
    for record in sorted((r for s in streams for r in s), key=lambda r: r.storage_id):
        if record.storage_id > horizon:
            break
        if record.event_log_entry.get_dagster_event().event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            alerts.append(_check_alert(record, instance))
        else:
            alerts.append(_run_alert(record, instance))
    return alerts, horizon


def send_alerts(
    alerts: list[Alert],
    horizon: int,
    settings: AlertSettings,
    log: logging.Logger,
    post=post_webhook,
    open_failures: dict[str, int] | None = None,
) -> tuple[int, str | None]:
    """Deliver in order; return (cursor to save, failure). On failure the cursor stops before that alert.

    `open_failures` (failure key -> storage id of its alert) is updated in place: a failure already open
    is not posted again; a pass or success closes it with a "resolved" post.
    """
    open_failures = {} if open_failures is None else open_failures
    for alert in alerts:
        if alert.passed and alert.key not in open_failures:
            continue
        if not alert.passed and alert.key in open_failures:
            log.info(f"still failing, not posted again: {alert.title()} on {alert.partition}")
            continue
        payload = build_payload(alert, settings)
        if not settings.webhook_url:
            log.warning(f"alert (no TICKLAKE_ALERT_WEBHOOK_URL set): {payload['text']}")
        else:
            try:
                post(settings.webhook_url, payload, settings.timeout_seconds)
            except AlertDeliveryError as e:
                return alert.storage_id - 1, str(e)
            log.info(f"alert sent: {alert.title()}")
        if alert.passed:
            open_failures.pop(alert.key)
        else:
            open_failures[alert.key] = alert.storage_id
    for key in sorted(open_failures, key=open_failures.__getitem__)[: max(0, len(open_failures) - settings.max_open)]:
        open_failures.pop(key)
    return horizon, None
