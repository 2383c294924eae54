"""The two public Dukascopy tick feeds behind one interface: an hour's URL and its decoder."""

import dataclasses
import datetime as dt
from collections.abc import Callable
from urllib.parse import urlparse

from ticklake_dagster.core.errors import InvalidInput
from ticklake_dagster.sources.dukascopy.decode import HourTicks, decode_bi5, decode_json
from ticklake_dagster.sources.dukascopy.instruments import Instrument


@dataclasses.dataclass(frozen=True)
class Feed:
    name: str
    default_base: str
    url_for: Callable[[str, Instrument, dt.datetime], str]
    decode: Callable[[bytes, int, Instrument], HourTicks]
    # The JSON API sits behind a WAF that answers 202 without data unless the request looks like it came from the site.
    headers: dict = dataclasses.field(default_factory=dict)


def _bi5_url(base: str, instrument: Instrument, hour: dt.datetime) -> str:
    # Months count from 00 in this feed: February is 01.
    return f"{base}/{instrument.name}/{hour.year:04d}/{hour.month - 1:02d}/{hour.day:02d}/{hour.hour:02d}h_ticks.bi5"


def _json_url(base: str, instrument: Instrument, hour: dt.datetime) -> str:
    return f"{base}/ticks/{instrument.json_code}/{hour.year}/{hour.month}/{hour.day}/{hour.hour}"


FEEDS = {
    "bi5": Feed(
        "bi5",
        "https://datafeed.dukascopy.com/datafeed",
        _bi5_url,
        lambda body, start_ms, inst: decode_bi5(body, start_ms, inst.point_value),
    ),
    "json": Feed(
        "json",
        "https://jetta.dukascopy.com/v1",
        _json_url,
        lambda body, start_ms, inst: decode_json(body, start_ms),
        headers={"Referer": "https://www.dukascopy.com/", "Origin": "https://www.dukascopy.com"},
    ),
}


def get_feed(name: str) -> Feed:
    if name not in FEEDS:
        raise InvalidInput(f"Unknown Dukascopy feed {name!r}: expected one of {', '.join(FEEDS)}")
    return FEEDS[name]


def check_base_url(url: str) -> str:
    """An http(s) base URL without a trailing slash."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InvalidInput(f"Invalid Dukascopy URL {url!r}: expected http(s)://host[/path]")
    return url.rstrip("/")


def hour_starts(day: dt.date) -> list[dt.datetime]:
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
    return [midnight + dt.timedelta(hours=h) for h in range(24)]
