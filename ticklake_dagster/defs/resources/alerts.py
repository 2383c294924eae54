"""The alert webhook: a Slack-compatible incoming webhook that failed checks and runs are posted to."""

import dagster as dg
from pydantic import Field

from ticklake_dagster.core.settings import env_text
from ticklake_dagster.defs.alerts import DEFAULT_WEBSERVER_URL, WEBHOOK_ENV, WEBSERVER_ENV, AlertSettings
from ticklake_dagster.defs.resources.lake import _env_var


class AlertWebhookResource(dg.ConfigurableResource):
    """Where alerts go (the sensor logs them when no URL is set) and how their run links are built."""

    webhook_url: str | None = Field(default=None, description=f"{WEBHOOK_ENV}; a secret (it carries the token)")
    webserver_url: str = Field(
        default=DEFAULT_WEBSERVER_URL, description=f"{WEBSERVER_ENV}: base of the links in alerts"
    )
    timeout_seconds: float = Field(default=10.0, gt=0, description="per POST; a failed POST is retried next tick")

    @classmethod
    def from_env(cls) -> "AlertWebhookResource":
        return cls(webhook_url=_env_var(WEBHOOK_ENV), webserver_url=env_text(WEBSERVER_ENV) or DEFAULT_WEBSERVER_URL)

    def settings(self) -> AlertSettings:
        return AlertSettings(
            webhook_url=self.webhook_url or None,
            webserver_url=self.webserver_url.rstrip("/"),
            timeout_seconds=self.timeout_seconds,
        )
