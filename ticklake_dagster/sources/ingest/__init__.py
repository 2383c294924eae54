"""The long-running tick ingester behind `ticklake ingest` (issue 3): feeds -> spool -> per-symbol parts in the lake."""
