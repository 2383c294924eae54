"""Sensors: the lake sensor (new raw parts -> tick and candle runs) and the alert sensor (failures -> webhook).

Each tick the lake sensor scans the lake (`lake.scan`), registers new symbols as dynamic partitions,
requests runs for the symbol-days with new parts, and reports the feed's freshness (`checks.feed_freshness`):
while a symbol's market is open and its newest raw part is older than TICKLAKE_FRESHNESS_MINUTES, the
candles_5m freshness check fails for today's partition (once; the alert sensor pages it), and passes
again when parts resume. Partitions with new parts are requested at most once per refresh interval,
and never while a run for them is still queued or running; the rest stay in the cursor until they can be.
"""

import json
import time
from collections.abc import Callable

import dagster as dg

from ticklake_dagster.core.days import SymbolDay
from ticklake_dagster.defs.alerts import collect_alerts, send_alerts
from ticklake_dagster.defs.assets import R2_TICKS, raw_ticks
from ticklake_dagster.defs.checks import feed_freshness
from ticklake_dagster.defs.partitions import partition_key, split_partition, symbol_partitions_def
from ticklake_dagster.defs.resources import AlertWebhookResource, LakeResource, TicklakeSettings
from ticklake_dagster.defs.run_planning import TRIGGER_TAG, pending_partitions, plan_runs, ticks_to_candles_selection
from ticklake_dagster.lake.scan import LAKE_SENSOR_INTERVAL_SECONDS, LakeCursor, scan_lake


def materialized_days(instance: dg.DagsterInstance) -> set[SymbolDay]:
    """The symbol-days r2_ticks has materialized, as the lake scan compares them."""
    days = (split_partition(key) for key in instance.get_materialized_partitions(R2_TICKS))
    return {day for day in days if day is not None}


def build_lake_sensor(
    name: str = "lake_sensor",
    minimum_interval_seconds: int = LAKE_SENSOR_INTERVAL_SECONDS,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
    clock: Callable[[], float] = time.time,
) -> dg.SensorDefinition:
    """Triggers r2_ticks + candles_5m runs for every symbol-day that received raw parts; registers new symbols."""

    @dg.sensor(
        name=name,
        asset_selection=ticks_to_candles_selection,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description=(
            "Watches ticks/ for new raw parts; requests r2_ticks + candles_5m for the symbol-days that got them."
        ),
    )
    def _lake_sensor(
        context: dg.SensorEvaluationContext, lake: LakeResource, settings: TicklakeSettings
    ) -> dg.SensorResult:
        now = clock()
        cursor = LakeCursor.from_json(context.cursor)
        instance = context.instance
        scan = scan_lake(lake.get_lake(), cursor, now, settings, lambda: materialized_days(instance))
        assert symbol_partitions_def.name is not None  # a named dynamic partitions definition
        known = set(instance.get_dynamic_partitions(symbol_partitions_def.name))
        new_symbols = sorted(set(scan.symbols) - known)
        plan = plan_runs(cursor, scan, now, pending_partitions(instance), settings, {TRIGGER_TAG: name})
        freshness = (
            feed_freshness(cursor.newest_part_ms, cursor.stale, scan.symbols, now, settings.freshness_minutes)
            if settings.watch_feed
            else []
        )
        for event in freshness:
            (context.log.info if event.passed else context.log.warning)(f"{event.partition}: {event.description}")
        context.log.info(
            f"listed {scan.keys_listed} keys; {len(scan.new_parts)} symbol-days with new parts; "
            f"requested {len(plan.requested)} in {len(plan.run_requests)} runs; {len(plan.deferred)} deferred"
            + (f"; new symbols {', '.join(new_symbols)}" if new_symbols else "")
            + (f"; ignored {scan.ignored_keys} keys that are not raw parts" if scan.ignored_keys else "")
            + (
                f"; {len(plan.skipped_out_of_range)} symbol-days outside the partition range"
                if plan.skipped_out_of_range
                else ""
            )
        )
        return dg.SensorResult(
            run_requests=plan.run_requests,
            cursor=cursor.to_json(),
            dynamic_partitions_requests=[symbol_partitions_def.build_add_request(new_symbols)] if new_symbols else [],
            asset_events=[
                *(
                    dg.AssetMaterialization(
                        raw_ticks.key, partition=partition_key(symbol, day), description="new raw parts"
                    )
                    for symbol, day in plan.reported
                ),
                *freshness,
            ],
        )

    return _lake_sensor


def build_alert_sensor(
    name: str = "alert_sensor",
    minimum_interval_seconds: int = 30,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
) -> dg.SensorDefinition:
    """Posts every new failure of an asset check or a run to TICKLAKE_ALERT_WEBHOOK_URL once, and its resolution."""

    @dg.sensor(
        name=name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description="Sends failed asset checks and failed runs to the alert webhook (or the log when none is set).",
    )
    def _alert_sensor(context: dg.SensorEvaluationContext, alert_webhook: AlertWebhookResource) -> dg.SensorResult:
        conf = alert_webhook.settings()
        saved = json.loads(context.cursor) if context.cursor else {}
        open_failures = saved.get("open", {})
        alerts, horizon = collect_alerts(context.instance, saved.get("after"), conf)
        cursor, failure = send_alerts(alerts, horizon, conf, context.log, open_failures=open_failures)
        if failure:
            left = sum(1 for a in alerts if a.storage_id > cursor)
            context.log.warning(f"alert webhook failed ({failure}); {left} events will be retried next tick")
        return dg.SensorResult(cursor=json.dumps({"after": cursor, "open": open_failures}, separators=(",", ":")))

    return _alert_sensor


lake_sensor = build_lake_sensor()
alert_sensor = build_alert_sensor()
