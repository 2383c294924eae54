"""Sensors: the lake sensor (new raw parts -> tick and candle runs) and the alert sensor (failures -> webhook).

The lake sensor never lists the whole lake in one tick (a tick times out after 60 s). Each tick it
1. lists `ticks/` one level deep to find symbols (new ones become dynamic partitions),
2. tails the live days (today and yesterday) of every symbol with `start_after` the last key seen,
   so an unchanged day costs one request, however many parts it holds,
3. advances a bounded sweep over every symbol's keys (SWEEP_KEYS per tick, resumed from the cursor),
   which notices late parts for any older day: a part is new when it was modified after the previous
   full pass over that symbol started. A symbol never swept before compares against Dagster instead:
   its days that have parts but were never materialized are new.
Partitions with new parts are requested at most once per REFRESH interval, and never while a run for
them is still queued or running; the rest stay in the cursor until they can be.

It also watches the feed itself: candles_5m's freshness check runs only when candles_5m does, and a
dead ingester writes no parts, so nothing would run. While a symbol's market is open and its newest
raw part is older than TICKLAKE_FRESHNESS_MINUTES, the sensor reports that check as failed for today's
partition (once; the alert sensor pages it), and as passing again when parts resume.
"""

import dataclasses
import datetime as dt
import json
import time
from collections.abc import Callable

import dagster as dg

from ticklake_dagster.alerts import collect_alerts, send_alerts
from ticklake_dagster.assets import raw_ticks, r2_ticks
from ticklake_dagster.checks import CANDLES_FRESHNESS_CHECK, CheckSettings
from ticklake_dagster.days import DAY_MS, day_start_ms, iso_ms
from ticklake_dagster.instance import lake_symbols
from ticklake_dagster.jobs import (
    TRIGGER_TAG, is_pending, partition_in_range, pending_partitions, run_requests_for, split_partition,
    ticks_to_candles_selection,
)
from ticklake_dagster.lake import Lake
from ticklake_dagster.lake_keys import parse_raw_part_key, part_start_ms, raw_day_prefix, raw_symbol_prefix
from ticklake_dagster.market_hours import trading_at
from ticklake_dagster.partitions import partition_key, symbol_partitions_def
from ticklake_dagster.resources import AlertWebhookResource, LakeResource
from ticklake_dagster.settings import env_number

SymbolDay = tuple[str, dt.date]


@dataclasses.dataclass(frozen=True)
class LakeSensorSettings:
    refresh_seconds: float = 300.0  # a live day is re-materialized at most this often
    live_days: int = 2  # today and yesterday are tailed every tick
    sweep_keys: int = 5000  # keys the rotating sweep reads per tick (5 S3 list requests)
    skew_seconds: float = 60.0  # tolerated clock difference between the lake and Dagster (and 1 s S3 mtimes)
    feed_freshness_minutes: float | None = 30.0  # None: don't watch the feed

    @classmethod
    def from_env(cls) -> "LakeSensorSettings":
        return cls(
            refresh_seconds=env_number("TICKLAKE_SENSOR_REFRESH_SECONDS", cls.refresh_seconds),
            live_days=env_number("TICKLAKE_SENSOR_LIVE_DAYS", cls.live_days, int, minimum=1),
            sweep_keys=env_number("TICKLAKE_SENSOR_SWEEP_KEYS", cls.sweep_keys, int),
            feed_freshness_minutes=CheckSettings.from_env().freshness_minutes,
        )


@dataclasses.dataclass
class LakeCursor:
    """Everything the lake sensor remembers between ticks (JSON in Dagster's sensor cursor)."""

    tails: dict[str, str] = dataclasses.field(default_factory=dict)  # "SYM/YYYY-MM-DD" -> last key seen
    sweep_symbol: str | None = None
    sweep_after: str | None = None  # last key the sweep read in sweep_symbol
    pass_started: dict[str, float] = dataclasses.field(default_factory=dict)  # symbol -> start of current pass
    pass_previous: dict[str, float] = dataclasses.field(default_factory=dict)  # symbol -> start of last complete pass
    dirty: dict[str, float] = dataclasses.field(default_factory=dict)  # partition -> newest unrequested part mtime
    # partition -> [last request time, newest part mtime known then]
    requested: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    newest_part_ms: dict[str, int] = dataclasses.field(default_factory=dict)  # symbol -> first tick of its newest part
    stale: dict[str, str] = dataclasses.field(default_factory=dict)  # symbol -> partition its stale feed was reported on

    @classmethod
    def from_json(cls, text: str | None) -> "LakeCursor":
        if not text:
            return cls()
        data = json.loads(text)
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True, separators=(",", ":"))


@dataclasses.dataclass
class LakeScan:
    symbols: list[str]
    new_parts: dict[SymbolDay, float]  # symbol-day -> newest new part's mtime
    swept_only: set[SymbolDay]  # found by mtime alone (the sweep), not as a key never listed before (the tail)
    keys_listed: int
    ignored_keys: int
    pass_completed: list[str]


def scan_lake(
    lake: Lake, cursor: LakeCursor, now: float, settings: LakeSensorSettings, materialized: Callable[[], set[str]]
) -> LakeScan:
    """Find symbol-days with parts the cursor has not accounted for; updates `cursor` in place.

    `materialized()` returns the set of materialized partition keys (asked only for never-swept symbols).
    """
    symbols = lake_symbols(lake)
    found: dict[SymbolDay, float] = {}
    tailed: set[SymbolDay] = set()
    listed = ignored = 0

    def note(key: str, mtime: float, tail: bool = False) -> bool:
        nonlocal ignored
        parsed = parse_raw_part_key(key)
        if parsed is None:
            ignored += 1
            return False
        found[parsed] = max(found.get(parsed, 0.0), mtime)
        if tail:
            tailed.add(parsed)
        return True

    today = dt.datetime.fromtimestamp(now, dt.timezone.utc).date()
    live = [today - dt.timedelta(days=i) for i in range(settings.live_days)]
    live_ids = set()
    for symbol in symbols:
        for day in live:
            tail_id = f"{symbol}/{day}"
            live_ids.add(tail_id)
            last = None
            for obj in lake.list(raw_day_prefix(symbol, day), start_after=cursor.tails.get(tail_id)):
                listed += 1
                last = obj.key
                note(obj.key, obj.last_modified, tail=True)
            if last:
                cursor.tails[tail_id] = last
                started = part_start_ms(last)
                if started is not None and started > cursor.newest_part_ms.get(symbol, 0):
                    cursor.newest_part_ms[symbol] = started
    cursor.tails = {k: v for k, v in cursor.tails.items() if k in live_ids}

    completed = []
    budget = settings.sweep_keys
    materialized_keys: set[str] | None = None
    visited: set[str] = set()
    while budget > 0 and symbols:
        symbol = _sweep_symbol(cursor, symbols)
        if symbol in visited:
            break  # every symbol finished a pass this tick: the lake is smaller than the budget
        visited.add(symbol)
        cursor.pass_started.setdefault(symbol, now)
        previous = cursor.pass_previous.get(symbol)
        if previous is None and materialized_keys is None:
            materialized_keys = materialized()
        exhausted = True
        for obj in lake.list(raw_symbol_prefix(symbol), start_after=cursor.sweep_after):
            listed += 1
            budget -= 1
            cursor.sweep_after = obj.key
            parsed = parse_raw_part_key(obj.key)
            if parsed is None:
                ignored += 1
            elif previous is None:
                if str(partition_key(*parsed)) not in materialized_keys:
                    note(obj.key, obj.last_modified)
            elif obj.last_modified > previous - settings.skew_seconds:
                note(obj.key, obj.last_modified)
            if budget <= 0:
                exhausted = False
                break
        if exhausted:
            cursor.pass_previous[symbol] = cursor.pass_started.pop(symbol)
            completed.append(symbol)
            cursor.sweep_symbol, cursor.sweep_after = _next_symbol(cursor, symbols, symbol), None
    for gone in set(cursor.pass_previous) - set(symbols):
        cursor.pass_previous.pop(gone)
    return LakeScan(symbols, found, set(found) - tailed, listed, ignored, completed)


# A symbol with no part for this long is retired, not stale: stop watching it (covers an FX weekend).
RETIRED_AFTER_MS = 4 * DAY_MS


def feed_freshness(cursor: LakeCursor, symbols: list[str], now: float, minutes: float) -> list[dg.AssetCheckEvaluation]:
    """candles_5m freshness evaluations for feeds that went stale or came back; updates `cursor.stale`."""
    now_ms = int(now * 1000)
    today = dt.datetime.fromtimestamp(now, dt.timezone.utc).date()
    events = []
    for symbol in symbols:
        newest = cursor.newest_part_ms.get(symbol)
        if newest is None or now_ms - newest > RETIRED_AFTER_MS:
            continue
        age_min = (now_ms - max(newest, day_start_ms(today))) / 60_000
        is_stale = trading_at(symbol, now_ms) and age_min > minutes
        reported = cursor.stale.get(symbol)
        key = str(partition_key(symbol, today))
        if is_stale and reported != key:
            cursor.stale[symbol] = key
            events.append(_freshness_evaluation(
                key, False, f"no raw parts for {symbol} since {iso_ms(newest)} ({age_min:.0f} minutes, limit {minutes:g}) "
                "while the market is open: is the ingester running?"))
        elif not is_stale and reported is not None:
            cursor.stale.pop(symbol)
            events.append(_freshness_evaluation(reported, True, f"raw parts for {symbol} arrive again (newest {iso_ms(newest)})"))
    for gone in set(cursor.stale) - set(symbols):
        cursor.stale.pop(gone)
    return events


def _freshness_evaluation(partition: str, passed: bool, description: str) -> dg.AssetCheckEvaluation:
    return dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey("candles_5m"),
        check_name=CANDLES_FRESHNESS_CHECK, passed=passed, severity=dg.AssetCheckSeverity.WARN,
        description=description, partition=partition,
    )


def _sweep_symbol(cursor: LakeCursor, symbols: list[str]) -> str:
    """The symbol to sweep now: a never-swept one first (a new symbol's history), else the current one."""
    never = [s for s in symbols if s not in cursor.pass_previous]
    current = cursor.sweep_symbol
    if current in symbols and (current not in cursor.pass_previous or not never):
        return current
    chosen = never[0] if never else symbols[0]
    if chosen != current:
        cursor.sweep_symbol, cursor.sweep_after = chosen, None
    return chosen


def _next_symbol(cursor: LakeCursor, symbols: list[str], done: str) -> str:
    never = [s for s in symbols if s not in cursor.pass_previous]
    if never:
        return never[0]
    later = [s for s in symbols if s > done]
    return later[0] if later else symbols[0]


@dataclasses.dataclass
class LakePlan:
    run_requests: list[dg.RunRequest]
    requested: list[SymbolDay]
    deferred: list[SymbolDay]
    reported: list[SymbolDay]
    skipped_out_of_range: list[SymbolDay]


def plan_runs(
    cursor: LakeCursor, scan: LakeScan, now: float, pending: set[SymbolDay], settings: LakeSensorSettings, tags: dict[str, str],
) -> LakePlan:
    """Turn newly seen parts into run requests: once per refresh interval, never beside a pending run."""
    today = dt.datetime.fromtimestamp(now, dt.timezone.utc).date()
    reported, out_of_range = [], []
    for (symbol, day), mtime in scan.new_parts.items():
        if not partition_in_range(day, today):
            out_of_range.append((symbol, day))
            continue
        key = str(partition_key(symbol, day))
        asked_at, newest_then = cursor.requested.get(key, (0.0, 0.0))
        if asked_at > mtime + settings.skew_seconds:
            continue  # a run requested after this part was written has read it already
        if (symbol, day) in scan.swept_only and mtime <= newest_then:
            continue  # the sweep's skew margin re-found parts that an earlier request already covered
        cursor.dirty[key] = max(cursor.dirty.get(key, 0.0), mtime)
        reported.append((symbol, day))
    to_request, deferred = set(), []
    for key in sorted(cursor.dirty):
        symbol_day = split_partition(key)
        if symbol_day is None or not partition_in_range(symbol_day[1], today):
            cursor.dirty.pop(key)
            continue
        if is_pending(symbol_day, pending) or now - cursor.requested.get(key, (-1e18,))[0] < settings.refresh_seconds:
            deferred.append(symbol_day)
            continue
        to_request.add(symbol_day)
        cursor.requested[key] = [now, max(cursor.dirty.pop(key), cursor.requested.get(key, (0.0, 0.0))[1])]
    horizon = now - max(settings.refresh_seconds, 86_400.0)
    cursor.requested = {k: v for k, v in cursor.requested.items() if v[0] >= horizon}
    return LakePlan(run_requests_for(to_request, tags), sorted(to_request), deferred, sorted(reported), sorted(out_of_range))


def clock() -> float:
    """The lake sensor's notion of now (tests evaluate it at a fixed time)."""
    return time.time()


def build_lake_sensor(
    name: str = "lake_sensor",
    minimum_interval_seconds: int = 30,
    settings: LakeSensorSettings | None = None,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
) -> dg.SensorDefinition:
    """Triggers r2_ticks + candles_5m runs for every symbol-day that received raw parts; registers new symbols."""

    @dg.sensor(
        name=name,
        asset_selection=ticks_to_candles_selection,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description="Watches ticks/ for new raw parts; requests r2_ticks + candles_5m for the symbol-days that got them.",
    )
    def _lake_sensor(context: dg.SensorEvaluationContext, lake: LakeResource) -> dg.SensorResult:
        conf = settings or LakeSensorSettings.from_env()
        now = clock()
        cursor = LakeCursor.from_json(context.cursor)
        instance = context.instance
        scan = scan_lake(lake.get_lake(), cursor, now, conf, lambda: instance.get_materialized_partitions(r2_ticks.key))
        known = set(instance.get_dynamic_partitions(symbol_partitions_def.name))
        new_symbols = sorted(set(scan.symbols) - known)
        plan = plan_runs(cursor, scan, now, pending_partitions(instance), conf, {TRIGGER_TAG: name})
        freshness = feed_freshness(cursor, scan.symbols, now, conf.feed_freshness_minutes) if conf.feed_freshness_minutes else []
        for event in freshness:
            (context.log.info if event.passed else context.log.warning)(f"{event.partition}: {event.description}")
        context.log.info(
            f"listed {scan.keys_listed} keys; {len(scan.new_parts)} symbol-days with new parts; "
            f"requested {len(plan.requested)} in {len(plan.run_requests)} runs; {len(plan.deferred)} deferred"
            + (f"; new symbols {', '.join(new_symbols)}" if new_symbols else "")
            + (f"; ignored {scan.ignored_keys} keys that are not raw parts" if scan.ignored_keys else "")
            + (f"; {len(plan.skipped_out_of_range)} symbol-days outside the partition range" if plan.skipped_out_of_range else "")
        )
        return dg.SensorResult(
            run_requests=plan.run_requests,
            cursor=cursor.to_json(),
            dynamic_partitions_requests=[symbol_partitions_def.build_add_request(new_symbols)] if new_symbols else [],
            asset_events=[
                *(dg.AssetMaterialization(raw_ticks.key, partition=partition_key(symbol, day), description="new raw parts")
                  for symbol, day in plan.reported),
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
