"""The tick lake: a local folder (`file://`) or an S3-compatible bucket (`s3://`, Cloudflare R2 in production)."""

import dataclasses
from typing import Any

import dagster as dg
from pydantic import Field

from ticklake_dagster.core.settings import is_set
from ticklake_dagster.lake.config import LakeConfig
from ticklake_dagster.lake.storage import Lake


def _value(v: str | dg.EnvVar | None) -> str | None:
    """Resolve an EnvVar outside a Dagster run (the CLI and the ingester build resources directly)."""
    if isinstance(v, dg.EnvVar):
        return v.get_value()
    return v


def _env_var(name: str) -> dg.EnvVar | None:
    # EnvVar, not the value, so the Dagster UI shows the variable's name and never the secret.
    return dg.EnvVar(name) if is_set(name) else None


class LakeResource(dg.ConfigurableResource):
    """Where raw tick parts and compacted days live. The work is `lake_config.LakeConfig`'s."""

    url: str = Field(description="file:///abs/path or s3://bucket[/prefix]")
    endpoint_url: str | None = Field(default=None, description="S3 endpoint; derived from account_id for R2")
    account_id: str | None = Field(default=None, description="Cloudflare account id (R2_ACCOUNT_ID)")
    access_key_id: str | None = None
    secret_access_key: str | None = None
    region_name: str = "auto"
    max_attempts: int = Field(default=5, description="botocore retries per request (throttling, 5xx)")
    connect_timeout: float = 5.0
    read_timeout: float = 30.0

    @classmethod
    def from_env(cls) -> "LakeResource":
        """TICKLAKE_LAKE_URL (default file://$TICKLAKE_HOME/lake, or s3://$R2_BUCKET_NAME when set) and R2_*."""
        plain = LakeConfig.from_env()
        return cls(
            url=plain.url,
            endpoint_url=plain.endpoint_url,
            account_id=plain.account_id,
            access_key_id=_env_var("R2_ACCESS_KEY_ID"),
            secret_access_key=_env_var("R2_SECRET_ACCESS_KEY"),
            region_name=plain.region_name,
        )

    def config(self) -> LakeConfig:
        """The plain configuration, EnvVars resolved."""
        fields: dict[str, Any] = {f.name: _value(getattr(self, f.name)) for f in dataclasses.fields(LakeConfig)}
        return LakeConfig(**fields)

    @property
    def is_s3(self) -> bool:
        return self.config().is_s3

    def resolved_endpoint(self) -> str | None:
        return self.config().resolved_endpoint()

    def has_credentials(self) -> bool:
        return self.config().has_credentials()

    def get_lake(self) -> Lake:
        return self.config().get_lake()

    def s3_client(self):
        """A boto3 S3 client that R2 accepts (see `LakeConfig.s3_client`)."""
        return self.config().s3_client()
