"""The tick lake: a local folder (`file://`) or an S3-compatible bucket (`s3://`, Cloudflare R2 in production)."""

import os
from urllib.parse import urlparse

import dagster as dg
from pydantic import Field

from ticklake_dagster.errors import InvalidInput, LakeError
from ticklake_dagster.lake_storage import FileLake, Lake, S3Lake
from ticklake_dagster.redaction import register_secret
from ticklake_dagster.settings import ticklake_home


def _value(v: str | dg.EnvVar | None) -> str | None:
    """Resolve an EnvVar outside a Dagster run (the CLI and the ingester build resources directly)."""
    if isinstance(v, dg.EnvVar):
        return v.get_value()
    return v


def _env_var(name: str) -> dg.EnvVar | None:
    # EnvVar, not the value, so the Dagster UI shows the variable's name and never the secret.
    return dg.EnvVar(name) if os.environ.get(name) else None


class LakeResource(dg.ConfigurableResource):
    """Where raw tick parts and compacted days live."""

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
        env = os.environ
        url = env.get("TICKLAKE_LAKE_URL")
        if not url:
            url = f"s3://{env['R2_BUCKET_NAME']}" if env.get("R2_BUCKET_NAME") else f"file://{ticklake_home() / 'lake'}"
        return cls(
            url=url,
            endpoint_url=env.get("R2_ENDPOINT") or None,
            account_id=env.get("R2_ACCOUNT_ID") or None,
            access_key_id=_env_var("R2_ACCESS_KEY_ID"),
            secret_access_key=_env_var("R2_SECRET_ACCESS_KEY"),
            region_name=env.get("R2_REGION") or "auto",
        )

    @property
    def is_s3(self) -> bool:
        return self.url.startswith("s3://")

    def resolved_endpoint(self) -> str | None:
        endpoint = _value(self.endpoint_url)
        account = _value(self.account_id)
        if not endpoint and account:
            endpoint = f"https://{account}.r2.cloudflarestorage.com"
        return endpoint

    def has_credentials(self) -> bool:
        return bool(_value(self.access_key_id) and _value(self.secret_access_key))

    def get_lake(self) -> Lake:
        parsed = urlparse(self.url)
        if parsed.scheme == "file":
            if not parsed.path.startswith("/") or parsed.netloc not in ("", "localhost"):
                raise InvalidInput(f"Invalid TICKLAKE_LAKE_URL {self.url!r}: use file:///absolute/path")
            return FileLake(parsed.path)
        if parsed.scheme == "s3":
            if not parsed.netloc:
                raise InvalidInput(f"Invalid TICKLAKE_LAKE_URL {self.url!r}: use s3://bucket[/prefix]")
            return S3Lake(self.s3_client(), parsed.netloc, parsed.path, endpoint=self.resolved_endpoint())
        raise InvalidInput(f"Invalid TICKLAKE_LAKE_URL {self.url!r}: expected file:// or s3://")

    def s3_client(self):
        """A boto3 S3 client that R2 accepts: checksums only when required (R2 rejected boto3 1.36's default ones on uploads)."""
        import boto3
        from botocore.config import Config

        if not self.has_credentials():
            raise LakeError("Lake credentials missing: set R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY")
        register_secret(_value(self.secret_access_key))  # botocore's messages never print it; redact() hides it anyway
        config = Config(
            retries={"max_attempts": self.max_attempts, "mode": "standard"},
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            max_pool_connections=32,
        )
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.resolved_endpoint(),
            region_name=self.region_name,
            aws_access_key_id=_value(self.access_key_id),
            aws_secret_access_key=_value(self.secret_access_key),
            config=config,
        )
