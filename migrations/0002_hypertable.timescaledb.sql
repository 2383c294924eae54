CREATE EXTENSION IF NOT EXISTS timescaledb;
SELECT create_hypertable('candles_5m', by_range('time', INTERVAL '7 days'), if_not_exists => TRUE);
