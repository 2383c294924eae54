"""ticklake: raw market ticks in an object-storage lake, candles in PostgreSQL/TimescaleDB."""
