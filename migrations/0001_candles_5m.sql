-- 5-minute candles: the one table the materialization writes; every higher timeframe derives from it.
CREATE TABLE IF NOT EXISTS candles_5m (
    time        timestamptz      NOT NULL,
    symbol      text             NOT NULL,
    open        double precision NOT NULL,
    high        double precision NOT NULL,
    low         double precision NOT NULL,
    close       double precision NOT NULL,
    trades      integer          NOT NULL,
    spread_avg  double precision,
    CONSTRAINT candles_5m_symbol_time_key UNIQUE (symbol, time)
);
