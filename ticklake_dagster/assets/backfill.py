"""How UI backfills are split into runs: a range of partitions per run, not one run per day."""

import dagster as dg

from ticklake_dagster.settings import env_number

# ~2 months of one symbol per run: a year x 5 symbols is ~30 runs; each run holds one day in memory at a time.
# Read once from the environment, not from TicklakeSettings: the BackfillPolicy is fixed when the assets are defined.
PARTITIONS_PER_RUN = env_number("TICKLAKE_BACKFILL_PARTITIONS_PER_RUN", 60, int, minimum=1)

ticks_backfill_policy = dg.BackfillPolicy.multi_run(max_partitions_per_run=PARTITIONS_PER_RUN)
