"""How UI backfills are split into runs: a range of partitions per run, not one run per day."""

import warnings

import dagster as dg

from ticklake_dagster.core.settings import env_number

# Half a year of one symbol per run: a year x 5 symbols is 10 runs, enough to keep 4 run slots busy, while
# each run pays its start-up (~3 CPU-seconds to import Dagster and load the definitions) and the daemon's
# per-run bookkeeping once for ~130 trading days. A run holds one day of ticks in memory at a time.
# Read once from the environment, not from TicklakeSettings: the BackfillPolicy is fixed when the assets are defined.
PARTITIONS_PER_RUN = int(env_number("TICKLAKE_BACKFILL_PARTITIONS_PER_RUN", 183, int, minimum=1))

ticks_backfill_policy = dg.BackfillPolicy.multi_run(max_partitions_per_run=PARTITIONS_PER_RUN)

# Chosen knowingly (without it a year of backfill is 365 runs, docs/history-scale.md): Dagster's beta notice
# for the `backfill_policy` parameter would print at every import of the definitions, in every run.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)
