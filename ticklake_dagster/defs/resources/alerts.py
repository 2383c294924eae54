"""The alert webhook: a Slack-compatible incoming webhook that failed checks and runs are posted to."""

import dagster as dg
from pydantic import Field

from ticklake_dagster.core.fields import env_field
from ticklake_dagster.core.settings import get
from ticklake_dagster.defs.alerts import AlertSettings
from ticklake_dagster.defs.resources.lake import _env_var


class AlertWebhookResource(dg.ConfigurableResource):
    """Where alerts go (the sensor logs them when no URL is set) and how their run links are built."""

    webhook_url: str | None = env_field("TICKLAKE_ALERT_WEBHOOK_URL")
    webserver_url: str = env_field("DAGSTER_WEBSERVER_URL")
    timeout_seconds: float = Field(default=10.0, gt=0, description="per POST; a failed POST is retried next tick")

    @classmethod
    def from_env(cls) -> "AlertWebhookResource":
        return cls(webhook_url=_env_var("TICKLAKE_ALERT_WEBHOOK_URL"), webserver_url=get("DAGSTER_WEBSERVER_URL"))

    def settings(self) -> AlertSettings:
        return AlertSettings(
            webhook_url=self.webhook_url or None,
            webserver_url=self.webserver_url.rstrip("/"),
            timeout_seconds=self.timeout_seconds,
        )
