"""Which Dukascopy feed the history import reads, its base URL, and how many requests at once.

Plain code, so `ticklake import dukascopy` runs without importing Dagster; `DukascopyResource` wraps `DukascopyConfig`.
"""

import dataclasses
import threading
from typing import TYPE_CHECKING

from ticklake_dagster.core.settings import get

if TYPE_CHECKING:
    from ticklake_dagster.sources.dukascopy.fetch import FeedClient


@dataclasses.dataclass(frozen=True)
class DukascopyConfig:
    """The feed's settings; the registry (core/settings.py) holds their defaults and bounds."""

    feed: str
    url: str | None  # unset: the feed's own base URL
    concurrency: int

    @classmethod
    def from_env(cls) -> "DukascopyConfig":
        return cls(
            feed=get("TICKLAKE_DUKASCOPY_FEED"),
            url=get("TICKLAKE_DUKASCOPY_URL"),
            concurrency=get("TICKLAKE_DUKASCOPY_CONCURRENCY"),
        )

    def base_url(self, feed: str | None = None, url: str | None = None) -> str:
        from ticklake_dagster.sources.dukascopy.feeds import check_base_url, get_feed

        return check_base_url(url or self.url or get_feed(feed or self.feed).default_base)

    def client(
        self, feed: str | None = None, concurrency: int | None = None, stop: threading.Event | None = None
    ) -> "FeedClient":
        from ticklake_dagster.sources.dukascopy.feeds import get_feed
        from ticklake_dagster.sources.dukascopy.fetch import FeedClient

        return FeedClient(concurrency or self.concurrency, headers=get_feed(feed or self.feed).headers, stop=stop)
