"""The lake stats with their monthly bill, as text, JSON, Markdown and Dagster-ready numbers."""

import dataclasses

from ticklake_dagster.candles.migrations import TIMESCALEDB
from ticklake_dagster.core.days import iso_ms
from ticklake_dagster.lake.costs import (
    JSON_BYTES_PER_TICK,
    Bill,
    LakeActivity,
    Prices,
    bill,
    monthly_usage,
    r2_prices,
    s3_prices,
)
from ticklake_dagster.lake.stats import LakeStats, SymbolStats


@dataclasses.dataclass(frozen=True)
class SensorFigures:
    """The lake sensor's settings that drive its listing and the live re-materializations."""

    interval_s: float
    live_days: int
    sweep_keys: int
    refresh_s: float
    sweep_s: float


def sensor_figures(settings, interval_s: float) -> SensorFigures:
    """The lake sensor's figures from the deployment's thresholds (TicklakeSettings' fields) and its tick interval."""
    return SensorFigures(
        interval_s=float(interval_s),
        live_days=settings.sensor_live_days,
        sweep_keys=settings.sensor_sweep_keys,
        refresh_s=settings.sensor_refresh_seconds,
        sweep_s=settings.sensor_sweep_minutes * 60,
    )


@dataclasses.dataclass
class PostgresFootprint:
    flavor: str
    bytes: int  # candles_5m with its indexes (the hypertable's chunks on TimescaleDB)
    ticks: int  # sum(trades): the ticks those candles were built from

    @property
    def bytes_per_tick(self) -> float | None:
        return self.bytes / self.ticks if self.ticks else None


@dataclasses.dataclass
class CostReport:
    activity: LakeActivity
    r2: Bill
    r2_json: Bill  # the same lake with raw parts as the legacy JSON
    s3: Bill
    postgres: PostgresFootprint | None

    def as_dict(self) -> dict:
        return {
            "activity": dataclasses.asdict(self.activity),
            "r2": self.r2.as_dict(),
            "r2_json_parts": self.r2_json.as_dict(),
            "s3_standard": self.s3.as_dict(),
            "postgres": None
            if self.postgres is None
            else {**dataclasses.asdict(self.postgres), "bytes_per_tick": self.postgres.bytes_per_tick},
        }


def postgres_footprint(conn, flavor: str) -> PostgresFootprint:
    """Measured size of candles_5m and the ticks it summarises."""
    size_sql = (
        "SELECT hypertable_size('candles_5m')"
        if flavor == TIMESCALEDB
        else "SELECT pg_total_relation_size('candles_5m')"
    )
    with conn.cursor() as cur:
        cur.execute(size_sql)
        size = cur.fetchone()[0] or 0
        cur.execute("SELECT coalesce(sum(trades), 0) FROM candles_5m")
        ticks = cur.fetchone()[0]
    conn.rollback()
    return PostgresFootprint(flavor, int(size), int(ticks))


def activity(stats: LakeStats, sensor: SensorFigures) -> LakeActivity:
    total = stats.total
    return LakeActivity(
        stored_bytes=total.total_bytes,
        symbols=len(stats.symbols),
        parts_per_day=total.parts_per_day,
        part_bytes=total.raw_bytes / total.raw_parts if total.raw_parts else 0.0,
        listed_keys=stats.raw_keys,
        sensor_interval_s=sensor.interval_s,
        sensor_live_days=sensor.live_days,
        sensor_sweep_keys=sensor.sweep_keys,
        sensor_refresh_s=sensor.refresh_s,
        sensor_sweep_s=sensor.sweep_s,
    )


def cost_report(
    stats: LakeStats,
    sensor: SensorFigures,
    postgres: PostgresFootprint | None = None,
    r2: Prices | None = None,
    s3: Prices | None = None,
) -> CostReport:
    a = activity(stats, sensor)
    usages = monthly_usage(a)
    total = stats.total
    json_bytes = total.ticks * JSON_BYTES_PER_TICK + total.compacted_bytes
    r2 = r2 or r2_prices()
    return CostReport(
        a,
        bill(r2, a.stored_bytes, usages),
        bill(r2, json_bytes, usages),
        bill(s3 or s3_prices(), a.stored_bytes, usages, egress=True),
        postgres,
    )


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def _tick(ms: int | None) -> str:
    return (iso_ms(ms) or "-")[:19].replace("T", " ")


COLUMNS = (
    "symbol",
    "days",
    "first tick",
    "last tick",
    "raw parts",
    "json",
    "compacted",
    "objects",
    "raw",
    "compacted",
    "total",
    "ticks",
    "B/tick",
)


def _row(s: SymbolStats) -> list[str]:
    ticks = f"{s.ticks:,}" + (f" (~{s.ticks_estimated:,} est.)" if s.ticks_estimated else "")
    return [
        s.symbol,
        str(s.days_with_data),
        _tick(s.first_tick_ms),
        _tick(s.last_tick_ms),
        f"{s.raw_parts:,}",
        f"{s.json_parts:,}",
        f"{s.compacted_days:,}",
        f"{s.objects:,}",
        _size(s.raw_bytes),
        _size(s.compacted_bytes),
        _size(s.total_bytes),
        ticks,
        "-" if s.bytes_per_tick is None else f"{s.bytes_per_tick:.1f}",
    ]


def _table(rows: list[list[str]], header: tuple[str, ...]) -> list[str]:
    widths = [max(len(r[i]) for r in [list(header), *rows]) for i in range(len(header))]
    fmt = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return [fmt(list(header)), *(fmt(r) for r in rows)]


def render_text(stats: LakeStats, report: CostReport | None) -> str:
    window = f" from {stats.first or 'the start'} to {stats.last or 'today'}" if stats.first or stats.last else ""
    lines = [f"Lake {stats.lake}{window} (today {stats.today} UTC)", ""]
    lines += _table([_row(s) for s in stats.symbols] + [_row(stats.total)], COLUMNS)
    lines += ["", "Coverage (days the market was open, by its session, without data):"]
    for s in stats.symbols:
        gaps = ", ".join(str(g) for g in s.gaps) or "none"
        pending = ", ".join(str(d) for d in s.uncompacted) or "none"
        lines.append(f"  {s.symbol}: gaps {gaps}; not compacted yet: {pending}")
    lines.append(f"Requests: {stats.list_requests} list, {stats.footer_reads} footer reads (ranged GET)")
    if report is not None:
        lines += ["", *render_costs(report)]
    return "\n".join(lines)


def render_costs(report: CostReport) -> list[str]:
    a = report.activity
    lines = [
        f"Monthly estimate (30 days; {a.parts_per_day:.1f} parts/day over the last 7 days, "
        f"{a.symbols} symbols, lake sensor every {a.sensor_interval_s:g} s, "
        f"sweep every {a.sensor_sweep_s / 60:g} min):"
    ]
    for b in (report.r2, report.r2_json, report.s3):
        title = b.store + (" with JSON parts (62.7 B/tick)" if b is report.r2_json else "")
        lines.append(f"  {title}: ${b.total:.2f}/month")
        for line in b.lines:
            unit = "GB-month" if line.name == "storage" else ("GB" if line.name.startswith("egress") else "ops")
            qty = f"{line.quantity:.3f}" if unit != "ops" else f"{line.quantity:,.0f}"
            lines.append(f"    {line.name:<34} {qty:>14} {unit:<8} ${line.cost:.4f} at list price")
        lines.append(
            f"    billed after free allowance: storage ${b.storage:.2f}, class A ${b.class_a_cost:.2f}, "
            f"class B ${b.class_b_cost:.2f}" + (f", egress ${b.egress:.2f}" if b.egress else "")
        )
    pg = report.postgres
    if pg is not None and pg.bytes_per_tick is not None:
        lines.append(
            f"  Same ticks as candles in {pg.flavor} (candles_5m): {_size(pg.bytes)} for {pg.ticks:,} ticks "
            f"= {pg.bytes_per_tick:.2f} B/tick"
        )
    return lines


def markdown(stats: LakeStats) -> str:
    """One row per symbol and a total row, for the asset's metadata."""
    header = ("symbol", "days", "gap days", "not compacted", "objects", "bytes", "ticks", "B/tick")
    rows = []
    for s in [*stats.symbols, stats.total]:
        rows.append(
            [
                s.symbol,
                str(s.days_with_data),
                str(s.gap_days),
                str(len(s.uncompacted)),
                f"{s.objects:,}",
                _size(s.total_bytes),
                f"{s.ticks:,}",
                "-" if s.bytes_per_tick is None else f"{s.bytes_per_tick:.1f}",
            ]
        )
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)
