"""The Dagster instance `ticklake dev` runs under: dagster.yaml really keeps storage in PostgreSQL."""

import dagster as dg
from dagster_postgres import PostgresRunStorage

from ticklake_dagster.instance import prepare_dagster_env, register_symbols
from ticklake_dagster.lake_scan import lake_symbols


def test_dagster_home_uses_postgres_storage(tmp_path, database_url, monkeypatch):
    monkeypatch.setenv("TICKLAKE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("DAGSTER_PG_URL", raising=False)
    env = prepare_dagster_env()
    assert env["DAGSTER_HOME"] == str(tmp_path / "home" / "dagster")
    assert env["TICKLAKE_DAGSTER_PG_URL"].startswith("postgresql+psycopg2://")
    monkeypatch.setenv("TICKLAKE_DAGSTER_PG_URL", env["TICKLAKE_DAGSTER_PG_URL"])
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        instance.add_dynamic_partitions("symbol", ["EURUSD"])
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as again:  # persisted, not in memory
        assert again.get_dynamic_partitions("symbol") == ["EURUSD"]


def test_symbols_found_in_the_lake_are_registered_once(file_lake_resource):
    lake = file_lake_resource.get_lake()
    for key in ("ticks/EURUSD/2025/11/13/part-1-a.parquet", "ticks/BTC-USD/2025/11/13/part-1-a.parquet",
                "ticks/bad symbol/2025/11/13/part-1-a.parquet", "ticks/lower/2025/11/13/part-1-a.parquet"):
        lake.put(key, b"")
    assert lake_symbols(lake) == ["BTC-USD", "EURUSD"]
    with dg.instance_for_test() as instance:
        assert register_symbols(instance, lake_symbols(lake)) == ["BTC-USD", "EURUSD"]
        assert register_symbols(instance, lake_symbols(lake)) == []
        assert sorted(instance.get_dynamic_partitions("symbol")) == ["BTC-USD", "EURUSD"]
