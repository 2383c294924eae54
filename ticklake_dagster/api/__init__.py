"""The candles API and chart page that `ticklake serve` runs."""

from ticklake_dagster.api.app import create_app

__all__ = ["create_app"]
