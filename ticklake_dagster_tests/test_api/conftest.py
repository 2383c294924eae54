"""One database for the API tests, filled once by the spine's own materialization of synthetic ticks."""

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from ticklake_dagster.api import create_app
from ticklake_dagster.candles.from_lake import LakeCandles
from ticklake_dagster.core.timeframes import INTRADAY
from ticklake_dagster.defs.resources import DatabaseResource, LakeResource
from ticklake_dagster.lake.keys import raw_part_key
from ticklake_dagster.lake.parts import ticks_to_parquet
from ticklake_dagster.sources.synthetic import batch_bounds, generate_day
from ticklake_dagster_tests import servers
from ticklake_dagster_tests.factories import (
    DAY,
    instance_with_symbols,
    materialize_day,
    reference_candles,
    reference_session_bars,
)

# Thursday and Friday for an FX pair; one crypto day with a '-' in its symbol; a metal with volumes.
FILLED = {"EURUSD": [DAY, DAY + dt.timedelta(days=1)], "BTC-USD": [DAY], "XAUUSD": [DAY]}
WITH_VOLUMES = {"XAUUSD"}
RATE = 0.2  # ticks per second: ~17k a day, every 5-minute bucket populated


@dataclasses.dataclass
class Filled:
    database: DatabaseResource
    url: str
    ticks: dict[str, pd.DataFrame]  # symbol -> every tick written to the lake, sorted
    lake: LakeResource

    def expected(
        self, symbol: str, timeframe: str, start: int | None = None, end: int | None = None, price: str = "mid"
    ) -> list[dict]:
        """Candles computed independently from the raw ticks (pandas resample, or grouping by the session rule as
        traders state it), as the API shapes them."""
        if timeframe in INTRADAY:
            ref = reference_candles(self.ticks[symbol], f"{INTRADAY[timeframe]}s", price)
        else:
            ref = reference_session_bars(self.ticks[symbol], timeframe, price, fx=symbol != "BTC-USD")
        rows = [
            {
                "time": int(r.time.timestamp()),
                **{c: getattr(r, c) for c in ("open", "high", "low", "close", "spread_avg")},
                "trades": int(r.trades),
                **{v: None if np.isnan(getattr(r, v)) else getattr(r, v) for v in ("bid_volume", "ask_volume")},
            }
            for r in ref.itertuples(index=False)
        ]
        return [r for r in rows if (start is None or r["time"] >= start) and (end is None or r["time"] <= end)]


def seed(lake, symbol: str, day: dt.date) -> pd.DataFrame:
    """Write a synthetic day as the ingester would (one part per flushed batch); return its ticks. Symbols in
    WITH_VOLUMES get bid and ask volumes (base-asset units), as Dukascopy's parts carry them."""
    ts, bid, ask = generate_day(symbol, day, rate=RATE)
    ticks = pd.DataFrame({"ts_ms": ts, "bid": bid, "ask": ask})
    if symbol in WITH_VOLUMES:
        rng = np.random.default_rng(7)
        ticks["bid_volume"] = np.round(rng.uniform(0.5, 50.0, len(ts)), 2)
        ticks["ask_volume"] = np.round(rng.uniform(0.5, 50.0, len(ts)), 2)
    volumes = [ticks[v].to_numpy() if v in ticks else None for v in ("bid_volume", "ask_volume")]
    for i, j in batch_bounds(ts):
        cut = [v[i:j] if v is not None else None for v in volumes]
        lake.put(raw_part_key(symbol, day, int(ts[i])), ticks_to_parquet(ts[i:j], bid[i:j], ask[i:j], *cut))
    return ticks


@pytest.fixture(scope="package")
def filled(pg_server_url, tmp_path_factory) -> Filled:
    home = tmp_path_factory.mktemp("api")
    lake_resource = LakeResource(url=f"file://{home / 'lake'}")
    lake = lake_resource.get_lake()
    with servers.fresh_database(pg_server_url) as url:
        database = DatabaseResource(url=url, home=str(home))
        instance = instance_with_symbols(*FILLED)
        ticks = {}
        for symbol, days in FILLED.items():
            frames = []
            for day in days:
                frames.append(seed(lake, symbol, day))
                assert materialize_day(lake_resource, database, symbol, day, instance=instance).success
            ticks[symbol] = pd.concat(frames, ignore_index=True).sort_values("ts_ms", kind="stable", ignore_index=True)
        yield Filled(database, url, ticks, lake_resource)


@pytest.fixture(scope="package")
def client(filled):
    with TestClient(create_app(filled.database)) as c:
        yield c


@pytest.fixture(scope="package")
def lake_client(filled):
    """The API with the lake beside the database: candles below 5 minutes are built from its ticks."""
    with TestClient(create_app(filled.database, lake=LakeCandles(filled.lake.get_lake()))) as c:
        yield c


def day_start(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp())


def unreachable_lake():
    """An S3 lake on a 127.0.0.1 port nothing listens on: every read fails at once (one attempt, 1 s timeout)."""
    from ticklake_dagster.defs.resources import LakeResource
    from ticklake_dagster_tests import servers

    return LakeResource(
        url="s3://lake/x",
        endpoint_url=f"http://127.0.0.1:{servers.free_port()}",
        access_key_id="k",
        secret_access_key="s",
        region_name="us-east-1",
        max_attempts=1,
        connect_timeout=1,
    ).get_lake()
