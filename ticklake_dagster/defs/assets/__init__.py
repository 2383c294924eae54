from ticklake_dagster.defs.assets.candles import CANDLES_5M as CANDLES_5M
from ticklake_dagster.defs.assets.candles import HIGHER_TIMEFRAME_SPECS as HIGHER_TIMEFRAME_SPECS
from ticklake_dagster.defs.assets.candles import HIGHER_TIMEFRAMES as HIGHER_TIMEFRAMES
from ticklake_dagster.defs.assets.daily import ticks_and_candles as ticks_and_candles
from ticklake_dagster.defs.assets.ticks import R2_TICKS as R2_TICKS
from ticklake_dagster.defs.assets.ticks import raw_ticks as raw_ticks
