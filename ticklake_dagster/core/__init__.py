"""The lowest layer: errors, redaction, symbols, days and months, timeframes, sessions and the settings registry.

Nothing here imports an I/O library (no pandas, pyarrow, boto3, psycopg2 or Dagster at module level).
"""
