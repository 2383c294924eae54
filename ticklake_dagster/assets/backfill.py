"""How UI backfills are split into runs: a range of partitions per run, not one run per day."""

import os

import dagster as dg

# ~2 months of one symbol per run: a year x 5 symbols is ~30 runs; each run holds one day in memory at a time.
PARTITIONS_PER_RUN = int(os.environ.get("TICKLAKE_BACKFILL_PARTITIONS_PER_RUN", "60"))

ticks_backfill_policy = dg.BackfillPolicy.multi_run(max_partitions_per_run=PARTITIONS_PER_RUN)
