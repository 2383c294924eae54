"""Test data and independent reference implementations (written differently from the code under test)."""

import datetime as dt
import json
import time

import dagster as dg
import numpy as np
import pandas as pd

from ticklake_dagster.core.days import day_start_ms
from ticklake_dagster.defs.assets import ticks_and_candles
from ticklake_dagster.defs.partitions import partition_key, symbol_partitions_def
from ticklake_dagster.defs.resources import TicklakeSettings
from ticklake_dagster.lake.keys import raw_day_prefix, raw_part_key
from ticklake_dagster.lake.parts import ticks_to_parquet

DAY = dt.date(2025, 11, 13)  # a Thursday


def random_ticks(seed: int, day: dt.date = DAY, n: int = 5000) -> pd.DataFrame:
    """Random valid ticks spread over the day, unsorted, with repeated timestamps."""
    rng = np.random.default_rng(seed)
    ts = day_start_ms(day) + rng.integers(0, 86_400_000, n)
    ts[: n // 10] = ts[n // 10 : 2 * (n // 10)]  # same millisecond, different quotes
    mid = 1.1 + np.cumsum(rng.normal(0, 1e-4, n))
    half = rng.uniform(1e-5, 1e-4, n)
    return pd.DataFrame({"ts_ms": ts.astype("int64"), "bid": mid - half, "ask": mid + half})


def write_parquet_parts(lake, symbol: str, ticks: pd.DataFrame, parts: int = 4, day: dt.date = DAY) -> list[str]:
    """Split ticks into `parts` raw Parquet parts as the ingester would write them."""
    keys = []
    for i, chunk in enumerate(np.array_split(np.arange(len(ticks)), parts)):
        sub = ticks.iloc[chunk]
        key = raw_part_key(symbol, day, int(sub["ts_ms"].min()) if len(sub) else day_start_ms(day), suffix=f"t{i}")
        lake.put(key, ticks_to_parquet(sub["ts_ms"].to_numpy(), sub["bid"].to_numpy(), sub["ask"].to_numpy()))
        keys.append(key)
    return keys


def write_json_part(lake, symbol: str, records: list, name: str = "legacy", day: dt.date = DAY) -> str:
    """A legacy JSON part: an array of {"timestamp": unix seconds, "bid", "ask"}."""
    key = f"{raw_day_prefix(symbol, day)}part-{day_start_ms(day):013d}-{name}.json"
    lake.put(key, json.dumps(records).encode())
    return key


def reference_clean(ticks: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    """Row-by-row oracle for validation + exact dedup + stable sort by ts."""
    start = day_start_ms(day)
    seen, kept = set(), []
    for ts, bid, ask in ticks[["ts_ms", "bid", "ask"]].itertuples(index=False):
        if not (np.isfinite(bid) and np.isfinite(ask)) or bid <= 0 or ask <= 0 or bid > ask:
            continue
        if not start <= ts < start + 86_400_000:
            continue
        if (ts, bid, ask) in seen:
            continue
        seen.add((ts, bid, ask))
        kept.append((ts, bid, ask))
    kept.sort(key=lambda r: r[0])  # Python's sort is stable
    return pd.DataFrame(kept, columns=["ts_ms", "bid", "ask"]).astype({"ts_ms": "int64"})


def reference_candles(ticks: pd.DataFrame, rule: str = "5min", price: str = "mid") -> pd.DataFrame:
    """The naive way: pandas resample over one price side (ticks already clean and ts-sorted), with the
    summed volumes (NaN where a bucket's ticks have none)."""
    index = pd.to_datetime(ticks["ts_ms"], unit="ms", utc=True)
    values = {"mid": (ticks["bid"] + ticks["ask"]) / 2, "bid": ticks["bid"], "ask": ticks["ask"]}[price]
    series = pd.Series(values.to_numpy(), index=index)
    spread = pd.Series((ticks["ask"] - ticks["bid"]).to_numpy(), index=index)
    r = series.resample(rule)
    out = pd.DataFrame(
        {
            "open": r.first(),
            "high": r.max(),
            "low": r.min(),
            "close": r.last(),
            "trades": r.count(),
            "spread_avg": spread.resample(rule).mean(),
        }
    )
    for name in ("bid_volume", "ask_volume"):
        volume = pd.Series(ticks[name].to_numpy() if name in ticks else np.nan, index=index, dtype="float64")
        out[name] = volume.resample(rule).sum(min_count=1)
    out = out[out["trades"] > 0]
    out.index.name = "time"
    return out.reset_index()


def instance_with_symbols(*symbols: str) -> dg.DagsterInstance:
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(symbol_partitions_def.name, list(symbols))
    return instance


def materializations(result: dg.ExecuteInProcessResult, asset: str) -> list[dg.AssetMaterialization]:
    """The run's materializations of one asset (r2_ticks and candles_5m share the ticks_and_candles step)."""
    events = result.get_asset_materialization_events()
    return [e.step_materialization_data.materialization for e in events if e.asset_key.to_user_string() == asset]


def observations(result: dg.ExecuteInProcessResult, asset: str) -> list[dg.AssetObservation]:
    events = result.get_asset_observation_events()
    return [e.asset_observation_data.asset_observation for e in events if e.asset_key.to_user_string() == asset]


def materialize_day(lake_resource, database, symbol: str, day: dt.date = DAY, instance=None, **kwargs):
    """Run r2_ticks + candles_5m for one symbol-day through Dagster."""
    return dg.materialize(
        [ticks_and_candles],
        partition_key=partition_key(symbol, day),
        resources={"lake": lake_resource, "database": database, "settings": TicklakeSettings()},
        instance=instance or instance_with_symbols(symbol),
        **kwargs,
    )


def fetch_candles(database, relation: str = "candles_5m", symbol: str | None = None) -> pd.DataFrame:
    with database.connect() as conn, conn.cursor() as cur:
        where = "WHERE symbol = %s" if symbol else ""
        cur.execute(
            f"SELECT time, symbol, open, high, low, close, trades, spread_avg FROM {relation} {where} "
            "ORDER BY symbol, time",
            (symbol,) if symbol else None,
        )
        rows = cur.fetchall()
    frame = pd.DataFrame(rows, columns=["time", "symbol", "open", "high", "low", "close", "trades", "spread_avg"])
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return frame


def wait_until_parts_are_older_than(lake, seconds: float, prefix: str = "ticks/") -> None:
    """Wait until the newest object under `prefix`, by the lake's own mtime, is more than `seconds` old."""
    newest = max((o.last_modified for o in lake.list(prefix)), default=0.0)
    while time.time() <= newest + seconds:
        time.sleep(0.02)


def reference_session_bars(ticks: pd.DataFrame, timeframe: str, price: str = "mid", fx: bool = True) -> pd.DataFrame:
    """Session bars the naive way, from the rule as traders state it: an FX trade date D runs from 17:00 New York
    on D-1 to 17:00 on D and its week starts Sunday 17:00 New York; crypto's are UTC days and Monday weeks."""
    times = pd.to_datetime(ticks["ts_ms"], unit="ms", utc=True)
    if fx:
        trade_date = (
            (times.dt.tz_convert("America/New_York") + pd.Timedelta(hours=7)).dt.tz_localize(None).dt.floor("D")
        )
    else:
        trade_date = times.dt.tz_localize(None).dt.floor("D")
    if timeframe == "1w":
        trade_date = trade_date - pd.to_timedelta(trade_date.dt.dayofweek, unit="D")
    elif timeframe == "1M":
        trade_date = trade_date - pd.to_timedelta(trade_date.dt.day - 1, unit="D")
    if fx:
        starts = [
            pd.Timestamp(d - pd.Timedelta(hours=7)).tz_localize("America/New_York").tz_convert("UTC")
            for d in trade_date
        ]
    else:
        starts = [pd.Timestamp(d).tz_localize("UTC") for d in trade_date]
    values = {"mid": (ticks["bid"] + ticks["ask"]) / 2, "bid": ticks["bid"], "ask": ticks["ask"]}[price]
    frame = pd.DataFrame(
        {"time": starts, "value": values.to_numpy(), "spread": (ticks["ask"] - ticks["bid"]).to_numpy()}
    )
    for name in ("bid_volume", "ask_volume"):
        frame[name] = ticks[name].to_numpy() if name in ticks else np.nan
    grouped = frame.groupby("time", sort=True)
    out = pd.DataFrame(
        {
            "open": grouped["value"].first(),
            "high": grouped["value"].max(),
            "low": grouped["value"].min(),
            "close": grouped["value"].last(),
            "trades": grouped["value"].count(),
            "spread_avg": grouped["spread"].mean(),
            "bid_volume": grouped["bid_volume"].sum(min_count=1),
            "ask_volume": grouped["ask_volume"].sum(min_count=1),
        }
    )
    return out.reset_index()
