"""One ConfigurableResource per external system, plus the deployment's thresholds; read from the environment."""

from ticklake_dagster.defs.resources.alerts import AlertWebhookResource
from ticklake_dagster.defs.resources.database import DatabaseResource
from ticklake_dagster.defs.resources.deployment_settings import TicklakeSettings
from ticklake_dagster.defs.resources.dukascopy import DukascopyResource
from ticklake_dagster.defs.resources.ingester import IngesterResource
from ticklake_dagster.defs.resources.lake import LakeResource

__all__ = [
    "AlertWebhookResource",
    "DatabaseResource",
    "DukascopyResource",
    "IngesterResource",
    "LakeResource",
    "TicklakeSettings",
]
