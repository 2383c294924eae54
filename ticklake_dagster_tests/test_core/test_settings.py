"""Numeric settings from the environment: defaults, values, and one-line errors for bad ones."""

import pytest

from ticklake_dagster.checks import CheckSettings
from ticklake_dagster.errors import InvalidInput
from ticklake_dagster.retention import retention_days
from ticklake_dagster.lake_scan import LakeSensorSettings
from ticklake_dagster.settings import env_number


def test_unset_is_the_default_and_set_is_parsed(monkeypatch):
    monkeypatch.delenv("TICKLAKE_SENSOR_REFRESH_SECONDS", raising=False)
    assert LakeSensorSettings.from_env().refresh_seconds == 300.0
    monkeypatch.setenv("TICKLAKE_SENSOR_REFRESH_SECONDS", "60")
    monkeypatch.setenv("TICKLAKE_MAX_GAP_BUCKETS", "12")
    monkeypatch.setenv("TICKLAKE_FRESHNESS_MINUTES", "15")
    assert LakeSensorSettings.from_env().refresh_seconds == 60.0
    assert LakeSensorSettings.from_env().feed_freshness_minutes == 15.0
    assert CheckSettings.from_env().max_gap_buckets == 12


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("TICKLAKE_SENSOR_REFRESH_SECONDS", "five", "expected a number"),
        ("TICKLAKE_MAX_GAP_BUCKETS", "6.5", "expected a whole number"),
        ("TICKLAKE_SENSOR_LIVE_DAYS", "0", "must be at least 1"),
        ("TICKLAKE_MAX_REJECTED_RATIO", "-0.1", "must be at least 0"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(monkeypatch, name, text, message):
    monkeypatch.setenv(name, text)
    with pytest.raises(InvalidInput) as e:
        LakeSensorSettings.from_env() if name.startswith("TICKLAKE_SENSOR") else CheckSettings.from_env()
    assert str(e.value) == f"Invalid {name}={text!r}: {message}"
    assert "\n" not in str(e.value)


def test_env_number_kinds(monkeypatch):
    monkeypatch.setenv("TICKLAKE_TEST_N", "7")
    assert env_number("TICKLAKE_TEST_N", 1, int) == 7 and isinstance(env_number("TICKLAKE_TEST_N", 1, int), int)
    assert env_number("TICKLAKE_TEST_UNSET", 2.5) == 2.5


def test_retention_days_default_value_and_bad_values(monkeypatch):
    monkeypatch.delenv("TICKLAKE_RETENTION_DAYS", raising=False)
    assert retention_days() == 90
    monkeypatch.setenv("TICKLAKE_RETENTION_DAYS", "30")
    assert retention_days() == 30
    for text in ("0", "ninety", "1.5"):
        monkeypatch.setenv("TICKLAKE_RETENTION_DAYS", text)
        with pytest.raises(InvalidInput, match=r"^Invalid TICKLAKE_RETENTION_DAYS="):
            retention_days()
