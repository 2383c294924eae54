from ticklake_dagster.assets.candles import CANDLE_SPECS, HIGHER_TIMEFRAMES, candles_5m
from ticklake_dagster.assets.ticks import r2_ticks, raw_ticks

__all__ = ["CANDLE_SPECS", "HIGHER_TIMEFRAMES", "candles_5m", "r2_ticks", "raw_ticks"]
