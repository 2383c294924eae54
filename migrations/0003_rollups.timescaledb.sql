-- Higher timeframes as hierarchical continuous aggregates, each rolled up from the level below.
-- first()/last() over the lower bucket time (not ORDER BY inside an aggregate); spread_avg is
-- tick-weighted. The materialization refreshes each one explicitly for the window it wrote,
-- lowest level first; the policies only catch up what arrives later.

CREATE MATERIALIZED VIEW IF NOT EXISTS candles_15m
WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket(INTERVAL '15 minutes', time) AS time,
       symbol,
       first(open, time)   AS open,
       max(high)           AS high,
       min(low)            AS low,
       last(close, time)   AS close,
       sum(trades)::integer AS trades,
       sum(spread_avg * trades) / sum(trades) AS spread_avg
FROM candles_5m
GROUP BY time_bucket(INTERVAL '15 minutes', time), symbol
WITH NO DATA;
SELECT add_continuous_aggregate_policy('candles_15m',
    start_offset => INTERVAL '3 days', end_offset => INTERVAL '15 minutes',
    schedule_interval => INTERVAL '5 minutes', if_not_exists => TRUE);

CREATE MATERIALIZED VIEW IF NOT EXISTS candles_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket(INTERVAL '1 hour', time) AS time,
       symbol,
       first(open, time)   AS open,
       max(high)           AS high,
       min(low)            AS low,
       last(close, time)   AS close,
       sum(trades)::integer AS trades,
       sum(spread_avg * trades) / sum(trades) AS spread_avg
FROM candles_15m
GROUP BY time_bucket(INTERVAL '1 hour', time), symbol
WITH NO DATA;
SELECT add_continuous_aggregate_policy('candles_1h',
    start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour',
    schedule_interval => INTERVAL '15 minutes', if_not_exists => TRUE);

CREATE MATERIALIZED VIEW IF NOT EXISTS candles_4h
WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket(INTERVAL '4 hours', time) AS time,
       symbol,
       first(open, time)   AS open,
       max(high)           AS high,
       min(low)            AS low,
       last(close, time)   AS close,
       sum(trades)::integer AS trades,
       sum(spread_avg * trades) / sum(trades) AS spread_avg
FROM candles_1h
GROUP BY time_bucket(INTERVAL '4 hours', time), symbol
WITH NO DATA;
SELECT add_continuous_aggregate_policy('candles_4h',
    start_offset => INTERVAL '7 days', end_offset => INTERVAL '4 hours',
    schedule_interval => INTERVAL '1 hour', if_not_exists => TRUE);

CREATE MATERIALIZED VIEW IF NOT EXISTS candles_12h
WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket(INTERVAL '12 hours', time) AS time,
       symbol,
       first(open, time)   AS open,
       max(high)           AS high,
       min(low)            AS low,
       last(close, time)   AS close,
       sum(trades)::integer AS trades,
       sum(spread_avg * trades) / sum(trades) AS spread_avg
FROM candles_4h
GROUP BY time_bucket(INTERVAL '12 hours', time), symbol
WITH NO DATA;
SELECT add_continuous_aggregate_policy('candles_12h',
    start_offset => INTERVAL '7 days', end_offset => INTERVAL '12 hours',
    schedule_interval => INTERVAL '1 hour', if_not_exists => TRUE);

CREATE MATERIALIZED VIEW IF NOT EXISTS candles_1d
WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket(INTERVAL '1 day', time) AS time,
       symbol,
       first(open, time)   AS open,
       max(high)           AS high,
       min(low)            AS low,
       last(close, time)   AS close,
       sum(trades)::integer AS trades,
       sum(spread_avg * trades) / sum(trades) AS spread_avg
FROM candles_12h
GROUP BY time_bucket(INTERVAL '1 day', time), symbol
WITH NO DATA;
SELECT add_continuous_aggregate_policy('candles_1d',
    start_offset => INTERVAL '14 days', end_offset => INTERVAL '1 day',
    schedule_interval => INTERVAL '1 hour', if_not_exists => TRUE);
