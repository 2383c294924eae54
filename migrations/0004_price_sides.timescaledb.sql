-- Price sides and volumes: bid and ask OHLC beside the mid's, and the summed bid and ask volumes (base-asset
-- units, null where the ticks had none). candles_5m keeps every row: columns are added, and rows written
-- before this migration hold NULL bid/ask until `ticklake materialize` (or a backfill) rebuilds their days.
--
-- A continuous aggregate's query cannot be altered, so the higher timeframes are dropped and created again
-- with the new columns; the migration runner refreshes them over all of candles_5m right after, so they
-- hold the same rows as before. candles_1d (UTC days) is not recreated: daily bars now follow each
-- symbol's session (17:00 New York for FX) and are built from candles_1h at query time.
DROP MATERIALIZED VIEW IF EXISTS candles_1d;
DROP MATERIALIZED VIEW IF EXISTS candles_12h;
DROP MATERIALIZED VIEW IF EXISTS candles_4h;
DROP MATERIALIZED VIEW IF EXISTS candles_1h;
DROP MATERIALIZED VIEW IF EXISTS candles_15m;
ALTER TABLE candles_5m
    ADD COLUMN IF NOT EXISTS bid_open   double precision,
    ADD COLUMN IF NOT EXISTS bid_high   double precision,
    ADD COLUMN IF NOT EXISTS bid_low    double precision,
    ADD COLUMN IF NOT EXISTS bid_close  double precision,
    ADD COLUMN IF NOT EXISTS ask_open   double precision,
    ADD COLUMN IF NOT EXISTS ask_high   double precision,
    ADD COLUMN IF NOT EXISTS ask_low    double precision,
    ADD COLUMN IF NOT EXISTS ask_close  double precision,
    ADD COLUMN IF NOT EXISTS bid_volume double precision,
    ADD COLUMN IF NOT EXISTS ask_volume double precision;

CREATE MATERIALIZED VIEW candles_15m
WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket(INTERVAL '15 minutes', time) AS time,
       symbol,
       first(open, time) AS open,
       max(high) AS high,
       min(low) AS low,
       last(close, time) AS close,
       sum(trades)::integer AS trades,
       sum(spread_avg * trades) / sum(trades) AS spread_avg,
       first(bid_open, time) AS bid_open,
       max(bid_high) AS bid_high,
       min(bid_low) AS bid_low,
       last(bid_close, time) AS bid_close,
       first(ask_open, time) AS ask_open,
       max(ask_high) AS ask_high,
       min(ask_low) AS ask_low,
       last(ask_close, time) AS ask_close,
       sum(bid_volume) AS bid_volume,
       sum(ask_volume) AS ask_volume
FROM candles_5m
GROUP BY time_bucket(INTERVAL '15 minutes', time), symbol
WITH NO DATA;
SELECT add_continuous_aggregate_policy('candles_15m',
    start_offset => INTERVAL '3 days', end_offset => INTERVAL '15 minutes',
    schedule_interval => INTERVAL '5 minutes', if_not_exists => TRUE);

CREATE MATERIALIZED VIEW candles_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket(INTERVAL '1 hour', time) AS time,
       symbol,
       first(open, time) AS open,
       max(high) AS high,
       min(low) AS low,
       last(close, time) AS close,
       sum(trades)::integer AS trades,
       sum(spread_avg * trades) / sum(trades) AS spread_avg,
       first(bid_open, time) AS bid_open,
       max(bid_high) AS bid_high,
       min(bid_low) AS bid_low,
       last(bid_close, time) AS bid_close,
       first(ask_open, time) AS ask_open,
       max(ask_high) AS ask_high,
       min(ask_low) AS ask_low,
       last(ask_close, time) AS ask_close,
       sum(bid_volume) AS bid_volume,
       sum(ask_volume) AS ask_volume
FROM candles_15m
GROUP BY time_bucket(INTERVAL '1 hour', time), symbol
WITH NO DATA;
SELECT add_continuous_aggregate_policy('candles_1h',
    start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour',
    schedule_interval => INTERVAL '15 minutes', if_not_exists => TRUE);

CREATE MATERIALIZED VIEW candles_4h
WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket(INTERVAL '4 hours', time) AS time,
       symbol,
       first(open, time) AS open,
       max(high) AS high,
       min(low) AS low,
       last(close, time) AS close,
       sum(trades)::integer AS trades,
       sum(spread_avg * trades) / sum(trades) AS spread_avg,
       first(bid_open, time) AS bid_open,
       max(bid_high) AS bid_high,
       min(bid_low) AS bid_low,
       last(bid_close, time) AS bid_close,
       first(ask_open, time) AS ask_open,
       max(ask_high) AS ask_high,
       min(ask_low) AS ask_low,
       last(ask_close, time) AS ask_close,
       sum(bid_volume) AS bid_volume,
       sum(ask_volume) AS ask_volume
FROM candles_1h
GROUP BY time_bucket(INTERVAL '4 hours', time), symbol
WITH NO DATA;
SELECT add_continuous_aggregate_policy('candles_4h',
    start_offset => INTERVAL '7 days', end_offset => INTERVAL '4 hours',
    schedule_interval => INTERVAL '1 hour', if_not_exists => TRUE);

CREATE MATERIALIZED VIEW candles_12h
WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket(INTERVAL '12 hours', time) AS time,
       symbol,
       first(open, time) AS open,
       max(high) AS high,
       min(low) AS low,
       last(close, time) AS close,
       sum(trades)::integer AS trades,
       sum(spread_avg * trades) / sum(trades) AS spread_avg,
       first(bid_open, time) AS bid_open,
       max(bid_high) AS bid_high,
       min(bid_low) AS bid_low,
       last(bid_close, time) AS bid_close,
       first(ask_open, time) AS ask_open,
       max(ask_high) AS ask_high,
       min(ask_low) AS ask_low,
       last(ask_close, time) AS ask_close,
       sum(bid_volume) AS bid_volume,
       sum(ask_volume) AS ask_volume
FROM candles_4h
GROUP BY time_bucket(INTERVAL '12 hours', time), symbol
WITH NO DATA;
SELECT add_continuous_aggregate_policy('candles_12h',
    start_offset => INTERVAL '7 days', end_offset => INTERVAL '12 hours',
    schedule_interval => INTERVAL '1 hour', if_not_exists => TRUE);
