"""Which lake to open, from the environment: a local folder (`file://`) or an S3-compatible bucket (`s3://`, R2).

Plain code, so the CLI opens the lake without importing Dagster; `LakeResource` wraps `LakeConfig`.
"""

import dataclasses
from urllib.parse import urlparse

from ticklake_dagster.core.errors import InvalidInput, LakeError
from ticklake_dagster.core.redaction import register_secret
from ticklake_dagster.core.settings import get, is_set, ticklake_home
from ticklake_dagster.lake.storage import FileLake, Lake, S3Lake


@dataclasses.dataclass(frozen=True)
class LakeConfig:
    """Where raw tick parts and compacted days live, and how to reach them."""

    url: str
    endpoint_url: str | None = None
    account_id: str | None = None
    access_key_id: str | None = dataclasses.field(default=None, repr=False)
    secret_access_key: str | None = dataclasses.field(default=None, repr=False)
    region_name: str = "auto"
    max_attempts: int = 5
    connect_timeout: float = 5.0
    read_timeout: float = 30.0

    @classmethod
    def from_env(cls) -> "LakeConfig":
        """TICKLAKE_LAKE_URL (default file://$TICKLAKE_HOME/lake, or s3://$R2_BUCKET_NAME when set) and R2_*."""
        url = get("TICKLAKE_LAKE_URL")
        if not url:
            url = f"s3://{get('R2_BUCKET_NAME')}" if is_set("R2_BUCKET_NAME") else f"file://{ticklake_home() / 'lake'}"
        return cls(
            url=url,
            endpoint_url=get("R2_ENDPOINT"),
            account_id=get("R2_ACCOUNT_ID"),
            access_key_id=get("R2_ACCESS_KEY_ID"),
            secret_access_key=get("R2_SECRET_ACCESS_KEY"),
            region_name=get("R2_REGION"),
        )

    @property
    def is_s3(self) -> bool:
        return self.url.startswith("s3://")

    def resolved_endpoint(self) -> str | None:
        endpoint = self.endpoint_url
        if not endpoint and self.account_id:
            endpoint = f"https://{self.account_id}.r2.cloudflarestorage.com"
        return endpoint

    def has_credentials(self) -> bool:
        return bool(self.access_key_id and self.secret_access_key)

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
        """A boto3 S3 client that R2 accepts: checksums only when required (R2 rejected boto3 1.36's default ones
        on uploads).
        """
        import boto3
        from botocore.config import Config

        if not self.has_credentials():
            raise LakeError("Lake credentials missing: set R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY")
        register_secret(self.secret_access_key)  # botocore's messages never print it; redact() hides it anyway
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
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            config=config,
        )
