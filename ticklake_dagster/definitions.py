"""Everything Dagster loads: assets and resources, the deployment picked by environment variables.

Local (nothing set): a file lake under $TICKLAKE_HOME/lake and an embedded PostgreSQL.
Production: TICKLAKE_LAKE_URL=s3://... with R2_* credentials, and DATABASE_URL for PostgreSQL/TimescaleDB.
"""

import dagster as dg

from ticklake_dagster.assets import candles_5m, r2_ticks
from ticklake_dagster.resources import DatabaseResource, IngesterResource, LakeResource


def build_resources() -> dict:
    lake = LakeResource.from_env()
    # The ingester composes the same lake resource: one configuration for `ticklake ingest` and Dagster.
    return {"lake": lake, "database": DatabaseResource.from_env(), "ingester": IngesterResource.from_env(lake=lake)}


defs = dg.Definitions(assets=[r2_ticks, candles_5m], resources=build_resources())
