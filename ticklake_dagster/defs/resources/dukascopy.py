"""The Dukascopy feed the history import reads: which feed, its base URL, and how many requests at once."""

import threading

import dagster as dg
from pydantic import Field

from ticklake_dagster.core.settings import env_number, env_text

URL_ENV = "TICKLAKE_DUKASCOPY_URL"
FEED_ENV = "TICKLAKE_DUKASCOPY_FEED"
CONCURRENCY_ENV = "TICKLAKE_DUKASCOPY_CONCURRENCY"
DEFAULT_CONCURRENCY = 8


class DukascopyResource(dg.ConfigurableResource):
    """Shared by `ticklake import dukascopy` (as defaults) and the `dukascopy_ticks` asset."""

    feed: str = Field(default="bi5", description=f"{FEED_ENV}: bi5 (datafeed files) or json (the 2026 API)")
    url: str | None = Field(
        default=None, description=f"{URL_ENV}: the feed's base URL (a mirror); default Dukascopy's own"
    )
    concurrency: int = Field(
        default=DEFAULT_CONCURRENCY,
        ge=1,
        le=64,
        description=f"{CONCURRENCY_ENV}: requests in flight in total, shared by all import steps of the dukascopy pool",
    )

    @classmethod
    def from_env(cls) -> "DukascopyResource":
        return cls(
            feed=env_text(FEED_ENV) or "bi5",
            url=env_text(URL_ENV),
            concurrency=int(env_number(CONCURRENCY_ENV, DEFAULT_CONCURRENCY, int, minimum=1)),
        )

    def base_url(self, feed: str | None = None, url: str | None = None) -> str:
        from ticklake_dagster.sources.dukascopy.feeds import check_base_url, get_feed

        return check_base_url(url or self.url or get_feed(feed or self.feed).default_base)

    def client(self, feed: str | None = None, concurrency: int | None = None, stop: threading.Event | None = None):
        from ticklake_dagster.sources.dukascopy.feeds import get_feed
        from ticklake_dagster.sources.dukascopy.fetch import FeedClient

        return FeedClient(concurrency or self.concurrency, headers=get_feed(feed or self.feed).headers, stop=stop)
