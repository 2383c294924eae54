"""The Dukascopy feed the history import reads: which feed, its base URL, and how many requests at once."""

import dataclasses
import threading

import dagster as dg

from ticklake_dagster.core.fields import env_field
from ticklake_dagster.sources.dukascopy.config import DukascopyConfig


class DukascopyResource(dg.ConfigurableResource):
    """The `dukascopy_ticks` asset's feed, as the UI shows it. The work is `DukascopyConfig`'s, which the CLI uses."""

    feed: str = env_field("TICKLAKE_DUKASCOPY_FEED")
    url: str | None = env_field("TICKLAKE_DUKASCOPY_URL")  # unset: the feed's own base URL
    concurrency: int = env_field("TICKLAKE_DUKASCOPY_CONCURRENCY")

    @classmethod
    def from_env(cls) -> "DukascopyResource":
        return cls(**dataclasses.asdict(DukascopyConfig.from_env()))

    def config(self) -> DukascopyConfig:
        """The plain configuration."""
        return DukascopyConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(DukascopyConfig)})

    def base_url(self, feed: str | None = None, url: str | None = None) -> str:
        return self.config().base_url(feed, url)

    def client(self, feed: str | None = None, concurrency: int | None = None, stop: threading.Event | None = None):
        return self.config().client(feed, concurrency, stop)
