from ticklake_dagster.defs.assets.candles import HIGHER_TIMEFRAME_SPECS, HIGHER_TIMEFRAMES, candles_5m
from ticklake_dagster.defs.assets.ticks import r2_ticks, raw_ticks

__all__ = ["HIGHER_TIMEFRAME_SPECS", "HIGHER_TIMEFRAMES", "candles_5m", "r2_ticks", "raw_ticks"]
