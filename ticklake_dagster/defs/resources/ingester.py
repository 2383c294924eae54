"""The tick ingester's configuration as a resource, so the Dagster UI shows the settings `ticklake ingest` runs with."""

import dagster as dg

from ticklake_dagster.defs.resources.lake import LakeResource
from ticklake_dagster.sources.ingest.config import IngesterFields


class IngesterResource(dg.ConfigurableResource, IngesterFields):
    """Batching, spool and retry settings of the ingester, and the lake it writes to.

    The fields, `from_env` and the rest are `IngesterFields`' (sources/ingest/config.py), which the plain
    `IngesterConfig` that `ticklake ingest` reads shares; this resource holds the lake as a `LakeResource`.
    """

    lake: LakeResource

    @classmethod
    def lake_from_env(cls) -> LakeResource:
        return LakeResource.from_env()
