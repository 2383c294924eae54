"""Monthly object-store bill from lake figures: pure arithmetic, prices from TICKLAKE_PRICE_* settings.

Cloudflare R2 bills storage per GB-month and operations in two classes (Class A: PutObject, ListObjects;
Class B: GetObject, HeadObject), each with a monthly free allowance, and no egress. Usage beyond the free
allowance is rounded up to whole billing units (R2: 1 GB-month, 1 million operations; S3: 1,000
requests, storage not rounded). GB means 10^9 bytes.
Defaults are the published prices (R2 and S3 Standard us-east-1, 2026); set the variables to follow a
price change without a release.
"""

import dataclasses
import math
from typing import Any

from ticklake_dagster.core.settings import get, setting

GB = 1_000_000_000
MILLION = 1_000_000
DAYS_PER_MONTH = 30
JSON_BYTES_PER_TICK = 62.7  # the legacy JSON parts, measured on the ingester's own output


@dataclasses.dataclass(frozen=True)
class Prices:
    """One store's price list: storage per GB-month, operations per million, free allowance per month."""

    name: str
    storage_gb_month: float
    class_a_million: float
    class_b_million: float
    egress_gb: float = 0.0
    free_storage_gb: float = 0.0
    free_class_a_million: float = 0.0
    free_class_b_million: float = 0.0
    storage_unit_gb: float = 0.0  # billed in whole units of this many GB-month (0: exactly)
    ops_unit: int = 1  # operations billed in whole units of this many


_R2_VARS = {
    "storage_gb_month": "TICKLAKE_PRICE_R2_STORAGE_GB_MONTH",
    "class_a_million": "TICKLAKE_PRICE_R2_CLASS_A_MILLION",
    "class_b_million": "TICKLAKE_PRICE_R2_CLASS_B_MILLION",
    "free_storage_gb": "TICKLAKE_PRICE_R2_FREE_STORAGE_GB",
    "free_class_a_million": "TICKLAKE_PRICE_R2_FREE_CLASS_A_MILLION",
    "free_class_b_million": "TICKLAKE_PRICE_R2_FREE_CLASS_B_MILLION",
}
_S3_VARS = {
    "storage_gb_month": "TICKLAKE_PRICE_S3_STORAGE_GB_MONTH",
    "class_a_million": "TICKLAKE_PRICE_S3_PUT_MILLION",
    "class_b_million": "TICKLAKE_PRICE_S3_GET_MILLION",
    "egress_gb": "TICKLAKE_PRICE_S3_EGRESS_GB",
}
PRICE_VARIABLES = {**_R2_VARS, **{v: v for v in _S3_VARS.values()}}


def _defaults(names: dict[str, str]) -> dict[str, Any]:
    """The list prices: the registry's defaults of the variables."""
    return {f: setting(v).default for f, v in names.items()}


R2_DEFAULTS = Prices("Cloudflare R2", **_defaults(_R2_VARS), storage_unit_gb=1.0, ops_unit=MILLION)
S3_DEFAULTS = Prices("AWS S3 Standard", **_defaults(_S3_VARS), ops_unit=1000)


def _from_env(defaults: Prices, names: dict[str, str]) -> Prices:
    return dataclasses.replace(defaults, **{f: get(v) for f, v in names.items()})


def r2_prices() -> Prices:
    return _from_env(R2_DEFAULTS, _R2_VARS)


def s3_prices() -> Prices:
    return _from_env(S3_DEFAULTS, _S3_VARS)


@dataclasses.dataclass(frozen=True)
class Usage:
    """A month of one activity: operations per class, bytes read out of the store."""

    name: str
    class_a: float = 0.0
    class_b: float = 0.0
    egress_bytes: float = 0.0


@dataclasses.dataclass(frozen=True)
class LakeActivity:
    """What drives the bill: the lake's size and the measured write rate, per symbol summed."""

    stored_bytes: int
    symbols: int
    parts_per_day: float  # raw parts written per day, all symbols (last 7 days)
    part_bytes: float  # mean raw part size
    listed_keys: int  # raw keys the lake sensor's sweep walks (all symbols)
    sensor_interval_s: float = 30.0
    sensor_live_days: int = 2
    sensor_sweep_keys: int = 5000
    sensor_refresh_s: float = 300.0
    sensor_sweep_s: float = 3600.0  # a symbol's sweep pass starts at most this long after its last one finished


def sensor_requests_per_tick(a: LakeActivity) -> int:
    """ListObjectsV2 calls the lake sensor makes on every tick (see lake_scan.scan_lake), the sweep aside.

    One listing of `ticks/` for the symbols; one tail listing per symbol and live day (it starts after
    the last key seen, so one page).
    """
    return 1 + a.symbols * a.sensor_live_days


def sweep_requests_per_pass(a: LakeActivity) -> int:
    """ListObjectsV2 calls of one sweep pass over every symbol's keys: pages of 1,000, plus one partial page
    per symbol it moves past and per tick it stops at (sweep_keys keys a tick)."""
    if not a.symbols or not a.sensor_sweep_keys:
        return 0
    ticks = max(1, math.ceil(a.listed_keys / a.sensor_sweep_keys))
    return max(1, math.ceil(a.listed_keys / 1000)) + a.symbols - 1 + ticks - 1


def sweep_passes_per_month(a: LakeActivity) -> float:
    """Passes a month: one per sweep interval, or back to back when a pass takes longer (a lake too big for the
    budget).
    """
    if not sweep_requests_per_pass(a):
        return 0.0
    pass_s = max(1, math.ceil(a.listed_keys / a.sensor_sweep_keys)) * a.sensor_interval_s
    return DAYS_PER_MONTH * 86_400 / max(a.sensor_sweep_s, pass_s, a.sensor_interval_s)


def materialization_usage(a: LakeActivity) -> Usage:
    """Requests of the runs that compact a symbol-day and build its candles (r2_ticks, candles_5m).

    A run over a day with P parts lists the day and PUTs the compacted file (2 Class A), GETs every
    part, then HEADs and GETs the compacted file twice (read-back check, candles): P + 4 Class B.
    While parts arrive the sensor reruns a live day at most once per refresh interval and once per new
    part, L = min(P, 86400 / refresh) runs reading P/2 parts on average; the 02:00 schedule reads the
    full day once more. Per symbol-day: 2 (L + 1) Class A, L (P/2 + 4) + P + 4 Class B.
    """
    if not a.symbols or not a.parts_per_day:
        return Usage("materializations")
    p = a.parts_per_day / a.symbols
    live = min(p, 86_400 / a.sensor_refresh_s)
    symbol_days = a.symbols * DAYS_PER_MONTH
    part_reads = live * p / 2 + p
    return Usage(
        "materializations",
        class_a=symbol_days * 2 * (live + 1),
        class_b=symbol_days * (part_reads + 4 * (live + 1)),
        egress_bytes=symbol_days * part_reads * a.part_bytes,
    )


def monthly_usage(a: LakeActivity) -> list[Usage]:
    """The month's operations split by who makes them."""
    ticks_per_month = DAYS_PER_MONTH * 86_400 / a.sensor_interval_s
    return [
        Usage("ingester writes", class_a=a.parts_per_day * DAYS_PER_MONTH),
        Usage("lake sensor listing", class_a=sensor_requests_per_tick(a) * ticks_per_month),
        Usage("lake sensor sweep", class_a=sweep_requests_per_pass(a) * sweep_passes_per_month(a)),
        materialization_usage(a),
    ]


@dataclasses.dataclass(frozen=True)
class Line:
    name: str
    quantity: float  # GB-month or operations
    cost: float  # at list price, before the free allowance


@dataclasses.dataclass(frozen=True)
class Bill:
    store: str
    storage_gb: float
    class_a: float
    class_b: float
    egress_gb: float
    lines: list[Line]
    storage: float  # billed, after the free allowance and rounding
    class_a_cost: float
    class_b_cost: float
    egress: float

    @property
    def total(self) -> float:
        return self.storage + self.class_a_cost + self.class_b_cost + self.egress

    def as_dict(self) -> dict:
        return {
            "store": self.store,
            "storage_gb": self.storage_gb,
            "class_a_ops": self.class_a,
            "class_b_ops": self.class_b,
            "egress_gb": self.egress_gb,
            "storage_usd": self.storage,
            "class_a_usd": self.class_a_cost,
            "class_b_usd": self.class_b_cost,
            "egress_usd": self.egress,
            "total_usd": self.total,
            "lines": [dataclasses.asdict(line) for line in self.lines],
        }


def billable(usage: float, free: float, unit: float) -> float:
    """Usage beyond the free allowance, rounded up to whole billing units (`unit` 0: not rounded)."""
    over = max(0.0, usage - free)
    return math.ceil(over / unit - 1e-9) * unit if unit else over


def bill(prices: Prices, stored_bytes: float, usages: list[Usage], *, egress: bool = False) -> Bill:
    """One month at `prices`: storage of `stored_bytes` plus every usage, free allowance applied to the totals."""
    gb = stored_bytes / GB
    a = sum(u.class_a for u in usages)
    b = sum(u.class_b for u in usages)
    egress_gb = sum(u.egress_bytes for u in usages) / GB if egress else 0.0
    lines: list[Line | None] = [Line("storage", gb, gb * prices.storage_gb_month)]
    for u in usages:
        lines.append(
            Line(f"{u.name} (class A)", u.class_a, u.class_a / MILLION * prices.class_a_million) if u.class_a else None
        )
        lines.append(
            Line(f"{u.name} (class B)", u.class_b, u.class_b / MILLION * prices.class_b_million) if u.class_b else None
        )
    if egress_gb:
        lines.append(Line("egress to Dagster", egress_gb, egress_gb * prices.egress_gb))
    return Bill(
        store=prices.name,
        storage_gb=gb,
        class_a=a,
        class_b=b,
        egress_gb=egress_gb,
        lines=[line for line in lines if line is not None],
        storage=billable(gb, prices.free_storage_gb, prices.storage_unit_gb) * prices.storage_gb_month,
        class_a_cost=billable(a, prices.free_class_a_million * MILLION, prices.ops_unit)
        / MILLION
        * prices.class_a_million,
        class_b_cost=billable(b, prices.free_class_b_million * MILLION, prices.ops_unit)
        / MILLION
        * prices.class_b_million,
        egress=egress_gb * prices.egress_gb,
    )
