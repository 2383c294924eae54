"""The environment a user's shell would give `ticklake`: a fresh TICKLAKE_HOME, the test database, nothing else
of ours.
"""

import os

import pytest


def user_env(home) -> dict[str, str]:
    """The user's shell with TICKLAKE_HOME at `home` and none of our variables (no database either)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TICKLAKE_", "R2_", "DATABASE_URL", "DAGSTER_"))}
    return {**clean, "TICKLAKE_HOME": str(home)}


@pytest.fixture
def env(tmp_path, database_url):
    return {**user_env(tmp_path / "home"), "DATABASE_URL": database_url}
