import dagster as dg

from ticklake_dagster.definitions import defs
from ticklake_dagster.defs.assets.backfill import PARTITIONS_PER_RUN
from ticklake_dagster.defs.partitions import ticks_partitions_def
from ticklake_dagster.defs.resources import TicklakeSettings


def test_definitions_load_with_the_spine_assets():
    repo = defs.get_repository_def()
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert {"r2_ticks", "candles_5m"} <= keys
    candles = repo.asset_graph.get(dg.AssetKey("candles_5m"))
    assert dg.AssetKey("r2_ticks") in candles.parent_keys
    for key in ("r2_ticks", "candles_5m"):
        node = repo.asset_graph.get(dg.AssetKey(key))
        assert node.partitions_def == ticks_partitions_def
        assert node.backfill_policy.max_partitions_per_run == PARTITIONS_PER_RUN
    assert set(ticks_partitions_def.partition_dimension_names) == {"symbol", "date"}
    assert {"lake", "database", "ingester", "alert_webhook", "settings"} <= set(defs.resources)


def test_the_deployment_settings_are_a_resource_the_ui_shows():
    settings = defs.resources["settings"]
    assert isinstance(settings, TicklakeSettings)
    assert settings.retention_days >= 1 and settings.sensor_live_days >= 1


def test_the_cost_report_prices_the_lake_sensor_at_the_interval_it_runs_at():
    """`ticklake lake stats` and the lake_stats asset read the constant, not the sensor (which needs Dagster)."""
    from ticklake_dagster.lake.scan import LAKE_SENSOR_INTERVAL_SECONDS

    sensor = defs.get_repository_def().get_sensor_def("lake_sensor")
    assert sensor.minimum_interval_seconds == LAKE_SENSOR_INTERVAL_SECONDS


def test_history_path_is_monthly_and_apart_from_the_daily_automation():
    from ticklake_dagster.defs.partitions import history_partitions_def

    repo = defs.get_repository_def()
    for key in ("history_ticks", "history_candles"):
        node = repo.asset_graph.get(dg.AssetKey(key))
        assert node.partitions_def == history_partitions_def
        assert node.group_name == "history"
    assert dg.AssetKey("history_ticks") in repo.asset_graph.get(dg.AssetKey("history_candles")).parent_keys
    # The sensor and the schedule drive the daily assets only.
    from ticklake_dagster.defs.run_planning import TICKS_TO_CANDLES

    assert not {dg.AssetKey("history_ticks"), dg.AssetKey("history_candles")} & set(TICKS_TO_CANDLES)


def test_dagster_definitions_validate_runs_from_the_repository_root(tmp_path):
    """The command a Dagster user types first, in a clean environment (no DAGSTER_HOME, no storage URL).

    Dagster reads a dagster.yaml from the working directory when DAGSTER_HOME is unset; the instance
    config `ticklake dev` uses needs TICKLAKE_DAGSTER_PG_URL, so it must not sit at the root.
    """
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "TICKLAKE_", "DATABASE_URL"))}
    env.update(TICKLAKE_HOME=str(tmp_path / "home"), PYTHONPATH=str(root))
    dagster = Path(sys.executable).with_name("dagster")
    proc = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "TICKLAKE_DAGSTER_PG_URL" not in proc.stderr
