"""Settings from the environment: defaults, values, and one-line errors for bad ones."""

import pytest

from ticklake_dagster.core.errors import InvalidInput
from ticklake_dagster.core.settings import env_number
from ticklake_dagster.defs.resources import TicklakeSettings
from ticklake_dagster.defs.resources.deployment_settings import ENV_FIELDS


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


def test_env_number_kinds(monkeypatch):
    monkeypatch.setenv("TICKLAKE_TEST_N", "7")
    assert env_number("TICKLAKE_TEST_N", 1, int) == 7 and isinstance(env_number("TICKLAKE_TEST_N", 1, int), int)
    assert env_number("TICKLAKE_TEST_UNSET", 2.5) == 2.5
