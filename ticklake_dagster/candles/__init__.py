"""Candles: building them from ticks, their SQL and database, migrations, the history path, candles from the lake."""
