"""One ConfigurableResource per external system, plus the deployment's thresholds; read from the environment."""

from ticklake_dagster.resources.alerts import AlertWebhookResource
from ticklake_dagster.resources.database import DatabaseResource
from ticklake_dagster.resources.deployment_settings import TicklakeSettings
from ticklake_dagster.resources.dukascopy import DukascopyResource
from ticklake_dagster.resources.ingester import IngesterResource
from ticklake_dagster.resources.lake import LakeResource

__all__ = ["AlertWebhookResource", "DatabaseResource", "DukascopyResource", "IngesterResource", "LakeResource", "TicklakeSettings"]
