"""The Helm chart's topology on 127.0.0.1: `dagster api grpc` serves the code, webserver and daemon load it
through a workspace `grpc_server` entry, and a UI backfill runs through it with Dagster's own launcher."""

import datetime as dt

import dagster as dg

from ticklake_dagster.defs.partitions import partition_key
from ticklake_dagster.defs.resources import DatabaseResource, LakeResource
from ticklake_dagster.defs.run_planning import TICKS_TO_CANDLES
from ticklake_dagster_tests.dagster_services import dagster_services, deployed_env
from ticklake_dagster_tests.factories import fetch_candles, random_ticks, write_parquet_parts

DAYS = [dt.date(2025, 11, 12), dt.date(2025, 11, 13)]


def test_backfill_through_a_grpc_code_server(tmp_path, monkeypatch, database_url, dagster_storage_url):
    home = tmp_path / "home"
    lake = LakeResource(url=f"file://{home / 'lake'}").get_lake()
    for i, day in enumerate(DAYS):
        write_parquet_parts(lake, "EURUSD", random_ticks(i, day, n=500), parts=2, day=day)
    env = deployed_env(monkeypatch, home, database_url, dagster_storage_url, DAYS[0], ["EURUSD"])

    with dagster_services(env, tmp_path / "services", grpc=True, automation=False) as services:
        backfill = services.launch_backfill(
            [k.to_user_string() for k in TICKS_TO_CANDLES], [str(partition_key("EURUSD", d)) for d in DAYS]
        )
        status = services.wait_backfill(backfill, timeout=300)
        assert status == "COMPLETED_SUCCESS", services.tail_logs()

    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill}))
        assert runs and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        # Launched against the gRPC server's location, not an in-process module.
        origin = runs[0].remote_job_origin.repository_origin.code_location_origin
        assert type(origin).__name__ == "GrpcServerCodeLocationOrigin"
        assert (origin.host, origin.location_name) == ("127.0.0.1", "ticklake")
        done = instance.get_materialized_partitions(dg.AssetKey("candles_5m"))
        assert done == {str(partition_key("EURUSD", d)) for d in DAYS}
    candles = fetch_candles(DatabaseResource(url=database_url, home=str(home)), "candles_5m", "EURUSD")
    assert sorted(candles["time"].dt.date.unique()) == DAYS
    assert (
        fetch_candles(DatabaseResource(url=database_url, home=str(home)), "candles_1d", "EURUSD")["trades"].sum()
        == candles["trades"].sum()
    )
