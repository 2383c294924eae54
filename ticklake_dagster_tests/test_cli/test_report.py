"""`ticklake materialize` shows its work in the configured Dagster instance, as runless materializations."""

import datetime as dt

import dagster as dg
import pytest

from ticklake_dagster.defs.partitions import partition_key
from ticklake_dagster.defs.resources import DatabaseResource, LakeResource
from ticklake_dagster_tests import servers
from ticklake_dagster_tests.factories import materializations, materialize_day
from ticklake_dagster_tests.test_cli.conftest import user_env
from ticklake_dagster_tests.test_cli.test_commands import assert_one_line_error, ticklake

THURSDAY, FRIDAY, SATURDAY = dt.date(2025, 11, 13), dt.date(2025, 11, 14), dt.date(2025, 11, 15)


@pytest.fixture(scope="module")
def prepared_database(pg_server_url, tmp_path_factory):
    """A database `ticklake dev --setup-only` prepared (Dagster's storage, the pools' rows): once per module,
    as it costs a Dagster import and Dagster's schema; each `instance` gets a copy of its own."""
    with servers.fresh_database(pg_server_url) as url:
        home = tmp_path_factory.mktemp("prepared-home")
        out = ticklake({**user_env(home), "DATABASE_URL": url}, "dev", "--setup-only").stdout
        assert f"Dagster instance ready in {home / 'dagster'}" in out
        yield url


@pytest.fixture
def instance(env, monkeypatch, pg_server_url, prepared_database):
    """The instance `ticklake dev --setup-only` prepared under TICKLAKE_HOME, opened as the UI would.

    What `dev --setup-only` leaves on an empty lake is its database and DAGSTER_HOME/dagster.yaml: the test's
    database becomes a copy of the one it prepared for the module, and `prepare_dagster_env` (what `dev`
    runs) writes dagster.yaml under this test's TICKLAKE_HOME.
    """
    servers.replace_with_copy(pg_server_url, env["DATABASE_URL"], prepared_database)
    from ticklake_dagster.defs.instance import prepare_dagster_env

    for name in ("TICKLAKE_HOME", "DATABASE_URL"):
        monkeypatch.setenv(name, env[name])
    prepared = prepare_dagster_env()
    monkeypatch.setenv("TICKLAKE_DAGSTER_PG_URL", prepared["TICKLAKE_DAGSTER_PG_URL"])
    with dg.DagsterInstance.from_config(prepared["DAGSTER_HOME"]) as instance:
        yield instance


def latest_metadata(instance: dg.DagsterInstance, asset: str, symbol: str, day: dt.date) -> dict:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[str(partition_key(symbol, day))]), limit=1
    ).records
    assert records, f"no materialization of {asset} {symbol} {day}"
    assert records[0].run_id == ""  # runless: reported, not run
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}


def test_materialize_reports_written_days_with_the_assets_metadata(env, instance, tmp_path, database_url):
    ticklake(env, "seed-demo", "--symbols", "EURUSD", "--days", "3", "--end", "2025-11-15")
    out = ticklake(env, "materialize", "EURUSD", "2025-11-13:2025-11-15").stdout
    assert "Reported 3 partition(s) of r2_ticks and candles_5m to the Dagster instance in" in out

    assert "EURUSD" in instance.get_dynamic_partitions("symbol")
    expected = {str(partition_key("EURUSD", d)) for d in (THURSDAY, FRIDAY, SATURDAY)}
    for asset in ("r2_ticks", "candles_5m"):
        assert instance.get_materialized_partitions(dg.AssetKey(asset)) == expected
        # the closed Saturday is done, as a run records it
        assert latest_metadata(instance, asset, "EURUSD", SATURDAY) == {"market": "closed", "ticks": 0}
    reported = {a: latest_metadata(instance, a, "EURUSD", THURSDAY) for a in ("r2_ticks", "candles_5m")}
    assert reported["candles_5m"]["candle_count"] == 288

    # The same day through the Dagster assets records the same metadata.
    lake = LakeResource(url=f"file://{tmp_path / 'home' / 'lake'}")
    result = materialize_day(lake, DatabaseResource(url=database_url, home=str(tmp_path)), "EURUSD", THURSDAY)
    for asset in ("r2_ticks", "candles_5m"):
        recorded = {k: v.value for k, v in materializations(result, asset)[0].metadata.items()}
        assert reported[asset] == recorded, asset


def test_nothing_is_reported_without_an_instance(env, tmp_path):
    ticklake(env, "seed-demo", "--symbols", "EURUSD", "--days", "1", "--end", "2025-11-13")
    out = ticklake(env, "materialize", "EURUSD", "2025-11-13").stdout
    assert "288 rows inserted" in out and "Reported" not in out
    assert not (tmp_path / "home" / "dagster").exists()


def test_dry_run_reports_nothing(env, instance):
    ticklake(env, "seed-demo", "--symbols", "EURUSD", "--days", "1", "--end", "2025-11-13")
    out = ticklake(env, "materialize", "EURUSD", "2025-11-13", "--dry-run").stdout
    assert "Reported" not in out
    assert instance.get_materialized_partitions(dg.AssetKey("candles_5m")) == set()


def test_an_unreachable_instance_is_one_line_without_password(env, tmp_path):
    home = tmp_path / "elsewhere"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "storage:\n  postgres:\n    postgres_url: postgresql://dagster:hunter2@127.0.0.1:9/dagster?connect_timeout=2\n"
    )
    ticklake(env, "seed-demo", "--symbols", "EURUSD", "--days", "1", "--end", "2025-11-13")
    proc = ticklake({**env, "DAGSTER_HOME": str(home)}, "materialize", "EURUSD", "2025-11-13", check=False)
    assert_one_line_error(proc, f"Candles written, but reporting them to the Dagster instance in {home} failed:*")
    assert "hunter2" not in proc.stderr + proc.stdout
