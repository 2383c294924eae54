"""Pydantic fields from the settings registry: default, bounds and description defined once, in core/settings.py.

Plain code: the Dagster resources and the plain configurations the CLI reads (without Dagster) share them.
"""

from typing import Any

from pydantic import Field

from ticklake_dagster.core.settings import setting


def env_field(name: str) -> Any:
    """A pydantic Field with the registry's default and bounds, described as `NAME: doc` (the UI shows it)."""
    s = setting(name)
    return Field(
        default=s.default,
        description=f"{name}: {s.doc}",
        gt=s.minimum if s.above else None,
        ge=None if s.above else s.minimum,
        le=s.maximum,
    )
