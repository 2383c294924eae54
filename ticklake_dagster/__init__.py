"""ticklake: raw market ticks in an object-storage lake, candles in PostgreSQL/TimescaleDB.

`read_ticks` and `read_candles` read the lake back out, without Dagster or a database. They are imported
on first use, so `import ticklake_dagster.<anything>` (the CLI, the definitions) stays as cheap as before.
"""

__all__ = ["read_candles", "read_ticks"]


def __getattr__(name: str):
    if name == "read_ticks":
        from ticklake_dagster.ticks.reading import read_ticks

        return read_ticks
    if name == "read_candles":
        from ticklake_dagster.candles.resample import read_candles

        return read_candles
    raise AttributeError(f"module 'ticklake_dagster' has no attribute {name!r}")
