"""A UI backfill over two weekends of FX (Saturdays closed, Sunday evenings) and crypto, through a real webserver
and daemon.

Backfills launched as the asset page launches them, side by side: EURUSD and BTC-USD with every open
day's ticks end COMPLETED_SUCCESS with the FX Saturdays recorded closed; GBPUSD with one open Wednesday's
parts missing ends with exactly that partition FAILED, its reason in the run, and every other day done;
`candles_5m` alone over USDJPY days whose raw parts were never compacted builds their candles.

It runs on the Helm chart's topology on 127.0.0.1: `dagster api grpc` serves the code, the webserver and the
daemon load it through a workspace `grpc_server` entry, and the runs are launched by Dagster's own launcher.
"""

import datetime as dt

import dagster as dg

from ticklake_dagster.core.sessions import trades_on
from ticklake_dagster.defs.assets import CANDLES_5M, R2_TICKS
from ticklake_dagster.defs.partitions import partition_key, ticks_partitions_def
from ticklake_dagster.defs.resources import DatabaseResource, LakeResource
from ticklake_dagster.defs.run_planning import TICKS_TO_CANDLES
from ticklake_dagster.lake.keys import daily_key, raw_part_key
from ticklake_dagster.lake.parts import read_daily, ticks_to_parquet
from ticklake_dagster.sources.synthetic import generate_day
from ticklake_dagster_tests.dagster_services import dagster_services, deployed_env
from ticklake_dagster_tests.factories import fetch_candles

DAYS = [dt.date(2025, 11, 15) + dt.timedelta(days=i) for i in range(9)]  # Saturday to the Sunday after next
HOLE = dt.date(2025, 11, 19)  # a Wednesday
RAW_DAYS = DAYS[2:5]  # Monday to Wednesday: USDJPY's days that only candles_5m is asked for


def seed(lake, symbol: str, skip: dt.date | None = None) -> None:
    """The demo generator's ticks (its sessions: FX Sunday 17:00 to Friday 17:00 New York), one part a day."""
    for day in DAYS:
        ts, bid, ask = generate_day(symbol, day, rate=0.01)
        if len(ts) and day != skip:
            lake.put(raw_part_key(symbol, day, int(ts[0])), ticks_to_parquet(ts, bid, ask))


def keys(symbol: str, days: list[dt.date] = DAYS) -> list[str]:
    return [str(partition_key(symbol, d)) for d in days]


def statuses(instance, asset_key, symbol: str) -> dict[dt.date, str | None]:
    found = instance.get_status_by_partition(asset_key, keys(symbol), ticks_partitions_def)
    return {d: (found[k].value if found.get(k) else None) for d, k in zip(DAYS, keys(symbol))}


def test_two_weekends_of_fx_and_crypto_end_success_and_a_hole_fails_alone(
    tmp_path, monkeypatch, database_url, dagster_storage_url
):
    home = tmp_path / "home"
    lake = LakeResource(url=f"file://{home / 'lake'}").get_lake()
    seed(lake, "EURUSD")
    seed(lake, "BTC-USD")
    seed(lake, "GBPUSD", skip=HOLE)
    seed(lake, "USDJPY")
    env = deployed_env(
        monkeypatch, home, database_url, dagster_storage_url, DAYS[0], ["BTC-USD", "EURUSD", "GBPUSD", "USDJPY"]
    )

    assets = [k.to_user_string() for k in TICKS_TO_CANDLES]
    with dagster_services(env, tmp_path / "services", grpc=True, automation=False) as services:
        assert services.graphql("{ shouldShowNux }") == {"shouldShowNux": False}  # no community dialog on first visit
        complete = services.launch_backfill(assets, keys("EURUSD") + keys("BTC-USD"), "complete weeks")
        holed = services.launch_backfill(assets, keys("GBPUSD"), "a missing Wednesday")
        candles_only = services.launch_backfill(["candles_5m"], keys("USDJPY", RAW_DAYS), "candles of raw days")
        assert services.wait_backfill(complete, timeout=300) == "COMPLETED_SUCCESS", services.tail_logs()
        assert services.wait_backfill(holed, timeout=300) == "COMPLETED_FAILED", services.tail_logs()
        assert services.wait_backfill(candles_only, timeout=300) == "COMPLETED_SUCCESS", services.tail_logs()

    database = DatabaseResource(url=database_url, home=str(home))
    candles = fetch_candles(database, "candles_5m", "USDJPY")
    assert fetch_candles(database, "candles_12h", "USDJPY")["trades"].sum() == candles["trades"].sum()
    assert set(candles["time"].dt.date) == set(RAW_DAYS)
    for day in RAW_DAYS:  # compacted on the way, and recorded as such
        assert int(candles[candles["time"].dt.date == day]["trades"].sum()) == len(
            read_daily(lake.get(daily_key("USDJPY", day)))
        )

    with dg.DagsterInstance.get() as instance:
        for asset_key in (R2_TICKS, CANDLES_5M):
            for symbol in ("EURUSD", "BTC-USD"):
                assert set(statuses(instance, asset_key, symbol).values()) == {"MATERIALIZED"}, (asset_key, symbol)
            gbp = statuses(instance, asset_key, "GBPUSD")
            assert {d for d, s in gbp.items() if s == "FAILED"} == {HOLE}
            assert {d for d, s in gbp.items() if s == "MATERIALIZED"} == set(DAYS) - {HOLE}
        closed = {
            r.partition_key: r.asset_materialization.metadata
            for r in instance.fetch_materializations(CANDLES_5M, limit=200).records
            if "market" in r.asset_materialization.metadata
        }
        fx_closed = {str(partition_key(s, d)) for s in ("EURUSD", "GBPUSD") for d in DAYS if not trades_on(s, d)}
        assert set(closed) == fx_closed and len(fx_closed) == 4  # two Saturdays each; Sundays trade from 17:00 NY
        assert all((m["market"].value, m["ticks"].value) == ("closed", 0) for m in closed.values())

        assert statuses(instance, R2_TICKS, "USDJPY")[RAW_DAYS[0]] == "MATERIALIZED"
        (run, *_) = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": complete}))
        origin = run.remote_job_origin.repository_origin.code_location_origin  # the gRPC server's location
        assert type(origin).__name__ == "GrpcServerCodeLocationOrigin"
        assert (origin.host, origin.location_name) == ("127.0.0.1", "ticklake")
        (failed_run,) = instance.get_runs(
            filters=dg.RunsFilter(tags={"dagster/backfill": holed}, statuses=[dg.DagsterRunStatus.FAILURE])
        )
        failures = [
            e.dagster_event.step_failure_data.error.message
            for e in instance.all_logs(failed_run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
        ]
        assert any(f"no ticks for GBPUSD {HOLE}, a day its market was open" in m for m in failures), failures
