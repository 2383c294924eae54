"""Settings from the environment: the registry, defaults, values, and one-line errors for bad ones."""

import subprocess
import sys

import pytest

from ticklake_dagster.core.errors import InvalidInput
from ticklake_dagster.core.settings import KINDS, SETTINGS, Setting, get, is_set, markdown_table, parse, setting
from ticklake_dagster.core.thresholds import ENV_FIELDS
from ticklake_dagster.defs.resources import AlertWebhookResource, DukascopyResource, IngesterResource, TicklakeSettings
from ticklake_dagster.sources.ingest import config as ingester_config


def test_unset_is_the_default_and_set_is_parsed(monkeypatch):
    for name in ENV_FIELDS:
        monkeypatch.delenv(name, raising=False)
    assert TicklakeSettings.from_env() == TicklakeSettings()
    assert TicklakeSettings().sensor_refresh_seconds == 300.0 and TicklakeSettings().retention_days == 90
    monkeypatch.setenv("TICKLAKE_SENSOR_REFRESH_SECONDS", "60")
    monkeypatch.setenv("TICKLAKE_MAX_GAP_BUCKETS", "12")
    monkeypatch.setenv("TICKLAKE_FRESHNESS_MINUTES", "15")
    monkeypatch.setenv("TICKLAKE_RETENTION_DAYS", "30")
    monkeypatch.setenv("TICKLAKE_LATE_DATA_DAYS", "3")
    settings = TicklakeSettings.from_env()
    assert (settings.sensor_refresh_seconds, settings.max_gap_buckets, settings.freshness_minutes) == (60.0, 12, 15.0)
    assert (settings.retention_days, settings.late_data_days) == (30, 3)
    assert isinstance(settings.max_gap_buckets, int)


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("TICKLAKE_SENSOR_REFRESH_SECONDS", "five", "expected a number"),
        ("TICKLAKE_MAX_GAP_BUCKETS", "6.5", "expected a whole number"),
        ("TICKLAKE_SENSOR_LIVE_DAYS", "0", "must be at least 1"),
        ("TICKLAKE_MAX_REJECTED_RATIO", "-0.1", "must be at least 0"),
        ("TICKLAKE_RETENTION_DAYS", "0", "must be at least 1"),
        ("TICKLAKE_RETENTION_DAYS", "ninety", "expected a whole number"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(monkeypatch, name, text, message):
    monkeypatch.setenv(name, text)
    with pytest.raises(InvalidInput) as e:
        TicklakeSettings.from_env()
    assert str(e.value) == f"Invalid {name}={text!r}: {message}"
    assert "\n" not in str(e.value)


def test_kinds_are_parsed_when_read(monkeypatch):
    monkeypatch.setenv("TICKLAKE_INGEST_BATCH_SIZE", "7")
    monkeypatch.setenv("TICKLAKE_ONDEMAND_CACHE_MB", "2.5")
    monkeypatch.setenv("TICKLAKE_DEBUG", "0")  # a flag is on when set to anything
    monkeypatch.setenv("TICKLAKE_START_DATE", "2024-03-15")
    assert get("TICKLAKE_INGEST_BATCH_SIZE") == 7 and isinstance(get("TICKLAKE_INGEST_BATCH_SIZE"), int)
    assert get("TICKLAKE_ONDEMAND_CACHE_MB") == 2.5
    assert get("TICKLAKE_DEBUG") is True and get("TICKLAKE_START_DATE") == "2024-03-15"
    monkeypatch.setenv("TICKLAKE_INGEST_BATCH_SIZE", "8")  # read when used, not frozen at import
    assert get("TICKLAKE_INGEST_BATCH_SIZE") == 8
    for name in ("TICKLAKE_INGEST_BATCH_SIZE", "TICKLAKE_DEBUG", "R2_REGION"):
        monkeypatch.setenv(name, "")  # empty is unset
        assert get(name) == setting(name).default and not is_set(name)
    assert get("R2_REGION") == "auto" and get("TICKLAKE_DEBUG") is False


def test_a_name_outside_the_registry_is_a_bug_not_a_default():
    for read in (get, is_set, setting):
        with pytest.raises(KeyError, match="not in the settings registry"):
            read("TICKLAKE_NOT_A_SETTING")


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("TICKLAKE_DUKASCOPY_CONCURRENCY", "0", "must be at least 1"),
        ("TICKLAKE_DUKASCOPY_CONCURRENCY", "65", "must be at most 64"),
        ("TICKLAKE_INGEST_RETRY_BASE_SECONDS", "0", "must be more than 0"),
        ("TICKLAKE_INGEST_FLUSH_LATENCY_MS", "10001", "must be at most 10000"),
        ("TICKLAKE_ONDEMAND_CACHE_MB", "0.5", "must be at least 1"),
        ("TICKLAKE_PRICE_S3_EGRESS_GB", "free", "expected a number"),
        ("TICKLAKE_START_DATE", "2024-13-01", "expected YYYY-MM-DD"),
        ("TICKLAKE_HISTORY_START", "9999-12-31", "the last supported day is 9999-12-30"),
    ],
)
def test_bounds_and_bad_values_are_one_line(monkeypatch, name, text, message):
    monkeypatch.setenv(name, text)
    with pytest.raises(InvalidInput) as e:
        get(name)
    assert str(e.value) == f"Invalid {name}={text!r}: {message}"
    assert "\n" not in str(e.value)


def test_bounds_can_be_left_to_the_resource(monkeypatch):
    monkeypatch.setenv("TICKLAKE_INGEST_BATCH_SIZE", "0")
    assert get("TICKLAKE_INGEST_BATCH_SIZE", check_bounds=False) == 0
    with pytest.raises(InvalidInput, match="must be at least 1"):
        get("TICKLAKE_INGEST_BATCH_SIZE")


def test_a_secret_is_never_echoed():
    secret = Setting("TICKLAKE_TEST_SECRET", "int", None, "a test", minimum=1, secret=True)
    for text in ("hunter2", "0"):
        with pytest.raises(InvalidInput) as e:
            parse(secret, text)
        assert text not in str(e.value) and str(e.value).startswith("Invalid TICKLAKE_TEST_SECRET: ")


def test_every_setting_is_well_formed():
    assert len(SETTINGS) > 60 and all(name == s.name for name, s in SETTINGS.items())
    for s in SETTINGS.values():
        assert s.kind in KINDS, s.name
        assert s.doc and "\n" not in s.doc and "\n" not in (s.default_doc or ""), s.name
        if s.default is None:
            continue
        # The default is what parsing its own text would give, within the bounds.
        text = f"{s.default:g}" if isinstance(s.default, float) else str(s.default)
        assert s.kind == "flag" or parse(s, text) == s.default, s.name
        assert type(s.default) is {"int": int, "float": float, "flag": bool}.get(s.kind, str), s.name
    assert {s.name for s in SETTINGS.values() if s.secret} >= {
        "R2_SECRET_ACCESS_KEY",
        "DATABASE_URL",
        "DAGSTER_PG_URL",
        "TICKLAKE_ALERT_WEBHOOK_URL",
    }


@pytest.mark.parametrize(
    "resource, env_fields",
    [
        (TicklakeSettings, ENV_FIELDS),
        (IngesterResource, ingester_config.ENV_FIELDS),
        (ingester_config.IngesterConfig, ingester_config.ENV_FIELDS),
    ],
)
def test_resource_fields_come_from_the_registry(resource, env_fields):
    for name, field in env_fields.items():
        info = resource.model_fields[field]
        assert info.default == setting(name).default, name
        assert info.description == f"{name}: {setting(name).doc}", name


@pytest.mark.parametrize(
    "resource, names",
    [
        (DukascopyResource, {"TICKLAKE_DUKASCOPY_FEED", "TICKLAKE_DUKASCOPY_URL", "TICKLAKE_DUKASCOPY_CONCURRENCY"}),
        (AlertWebhookResource, {"TICKLAKE_ALERT_WEBHOOK_URL", "DAGSTER_WEBSERVER_URL"}),
    ],
)
def test_resources_describe_their_variables(resource, names):
    described = {(f.description or "").partition(":")[0] for f in resource.model_fields.values()}
    assert names <= described


def test_the_module_prints_the_table():
    proc = subprocess.run(
        [sys.executable, "-m", "ticklake_dagster.core.settings"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and proc.stdout == markdown_table()
    assert all(f"| `{name}` |" in proc.stdout for name in SETTINGS)
