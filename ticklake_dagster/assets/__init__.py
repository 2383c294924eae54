from ticklake_dagster.assets.candles import candles_5m
from ticklake_dagster.assets.ticks import r2_ticks

__all__ = ["candles_5m", "r2_ticks"]
