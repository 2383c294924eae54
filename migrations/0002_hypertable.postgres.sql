-- Plain PostgreSQL: candles_5m stays an ordinary table (its unique index serves time-range reads).
SELECT 1;
