"""DukascopyResource is DukascopyConfig as the Dagster UI shows it: the same environment, the same answers."""

import threading

from ticklake_dagster.defs.resources import DukascopyResource
from ticklake_dagster.sources.dukascopy.config import DukascopyConfig


def test_the_resource_and_the_plain_config_read_the_same_environment(monkeypatch):
    monkeypatch.setenv("TICKLAKE_DUKASCOPY_FEED", "bi5")
    monkeypatch.setenv("TICKLAKE_DUKASCOPY_URL", "https://mirror.example/datafeed")
    monkeypatch.setenv("TICKLAKE_DUKASCOPY_CONCURRENCY", "3")
    resource, plain = DukascopyResource.from_env(), DukascopyConfig.from_env()
    assert resource.config() == plain == DukascopyConfig("bi5", "https://mirror.example/datafeed", 3)
    assert resource.base_url() == plain.base_url() == "https://mirror.example/datafeed"
    assert resource.base_url(url="http://other.example/v1") == "http://other.example/v1"
    stop = threading.Event()
    bi5, json_feed = resource.client(stop=stop), resource.client("json", 2)
    assert "Referer" not in bi5.headers and bi5.stop is stop and bi5.http.connection_pool_kw["maxsize"] == 3
    assert json_feed.headers["Referer"] == "https://www.dukascopy.com/"
    assert json_feed.http.connection_pool_kw["maxsize"] == 2


def test_without_variables_each_feed_has_its_own_base_url(monkeypatch):
    for name in ("TICKLAKE_DUKASCOPY_FEED", "TICKLAKE_DUKASCOPY_URL", "TICKLAKE_DUKASCOPY_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)
    plain = DukascopyConfig.from_env()
    assert DukascopyResource.from_env().config() == plain == DukascopyConfig("json", None, 8)
    assert plain.base_url() == "https://jetta.dukascopy.com/v1"
    assert plain.base_url("bi5") == "https://datafeed.dukascopy.com/datafeed"
