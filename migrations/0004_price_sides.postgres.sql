-- Price sides and volumes: bid and ask OHLC beside the mid's, and the summed bid and ask volumes (base-asset
-- units, null where the ticks had none). Columns are added, nothing is dropped from candles_5m or the rollup
-- tables: rows written before this migration keep their mid candles and hold NULL bid/ask until
-- `ticklake materialize` (or a backfill) rebuilds their days from the lake.
--
-- candles_1d (UTC days) goes: daily bars now follow each symbol's session (17:00 New York for FX) and are
-- built from candles_1h at query time. Its rows were derived from candles_5m, which keeps every row.
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
ALTER TABLE candles_15m
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
ALTER TABLE candles_1h
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
ALTER TABLE candles_4h
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
ALTER TABLE candles_12h
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
DROP TABLE IF EXISTS candles_1d;
