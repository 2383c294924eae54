"""The Dukascopy feed the history import reads: which feed, its base URL, and how many requests at once."""

import threading

import dagster as dg

from ticklake_dagster.core.settings import get
from ticklake_dagster.defs.resources.fields import env_field


class DukascopyResource(dg.ConfigurableResource):
    """Shared by `ticklake import dukascopy` (as defaults) and the `dukascopy_ticks` asset."""

    feed: str = env_field("TICKLAKE_DUKASCOPY_FEED")
    url: str | None = env_field("TICKLAKE_DUKASCOPY_URL")  # unset: the feed's own base URL
    concurrency: int = env_field("TICKLAKE_DUKASCOPY_CONCURRENCY")

    @classmethod
    def from_env(cls) -> "DukascopyResource":
        return cls(
            feed=get("TICKLAKE_DUKASCOPY_FEED"),
            url=get("TICKLAKE_DUKASCOPY_URL"),
            concurrency=get("TICKLAKE_DUKASCOPY_CONCURRENCY"),
        )

    def base_url(self, feed: str | None = None, url: str | None = None) -> str:
        from ticklake_dagster.sources.dukascopy.feeds import check_base_url, get_feed

        return check_base_url(url or self.url or get_feed(feed or self.feed).default_base)

    def client(self, feed: str | None = None, concurrency: int | None = None, stop: threading.Event | None = None):
        from ticklake_dagster.sources.dukascopy.feeds import get_feed
        from ticklake_dagster.sources.dukascopy.fetch import FeedClient

        return FeedClient(concurrency or self.concurrency, headers=get_feed(feed or self.feed).headers, stop=stop)
