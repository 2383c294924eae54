"""The environment, read in one place: the registry of every variable ticklake reads, and its accessors.

`SETTINGS` names each variable with its kind, default, bounds and one line of documentation; `get(name)`
reads it when the value is used (never at import time), parsed and checked, and a bad value is one line
(`InvalidInput`) naming the variable, never echoing a secret. docs/configuration.md's table is this
registry (`python -m ticklake_dagster.core.settings` prints it); a test keeps the README's table and the
code's variable names in step with it.

Code that only *sets* variables for child processes (`ticklake dev`, the prepared Dagster instance) writes
`os.environ` itself.
"""

import dataclasses
import datetime as dt
import os
from pathlib import Path
from typing import Any

from ticklake_dagster.core.days import parse_day
from ticklake_dagster.core.errors import InvalidInput

# str, path and url values are text as given; a date is YYYY-MM-DD text; a flag is on when set to anything.
KINDS = ("str", "path", "url", "date", "int", "float", "flag")


@dataclasses.dataclass(frozen=True)
class Setting:
    """One environment variable: what it holds, its default, its bounds and one line of documentation."""

    name: str
    kind: str  # one of KINDS
    default: str | int | float | bool | None
    doc: str
    minimum: float | None = None
    maximum: float | None = None
    above: bool = False  # the minimum itself is out of bounds: > minimum, not >= minimum
    secret: bool = False  # never in a message; Dagster resources take it as an EnvVar (the UI shows the name)
    default_doc: str | None = None  # how the docs show a default that is computed or more than the bare value


def _price(name: str, default: float, doc: str) -> Setting:
    return Setting(name, "float", default, doc, minimum=0)


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        # --- where things live ----------------------------------------------------------------------
        Setting(
            "TICKLAKE_HOME",
            "path",
            "./.ticklake",
            "local state: lake folder, embedded database, ingester spool, Dagster home",
        ),
        Setting(
            "TICKLAKE_LAKE_URL",
            "url",
            None,
            "the lake: `file:///abs/path` or `s3://bucket[/prefix]`",
            default_doc="`file://$TICKLAKE_HOME/lake` (or `s3://$R2_BUCKET_NAME` when set)",
        ),
        Setting(
            "R2_ACCOUNT_ID",
            "str",
            None,
            "Cloudflare account; the endpoint `https://<id>.r2.cloudflarestorage.com` is derived from it",
        ),
        Setting("R2_ACCESS_KEY_ID", "str", None, "S3 access key id of the lake", secret=True),
        Setting("R2_SECRET_ACCESS_KEY", "str", None, "S3 secret key of the lake", secret=True),
        Setting("R2_BUCKET_NAME", "str", None, "bucket, when `TICKLAKE_LAKE_URL` is unset"),
        Setting(
            "R2_ENDPOINT",
            "url",
            None,
            "any S3-compatible endpoint (MinIO, AWS, …)",
            default_doc="derived from `R2_ACCOUNT_ID`",
        ),
        Setting("R2_REGION", "str", "auto", "signing region (`auto` for R2)"),
        Setting(
            "DATABASE_URL",
            "url",
            None,
            "PostgreSQL or TimescaleDB for candles",
            secret=True,
            default_doc="embedded PostgreSQL",
        ),
        Setting(
            "TICKLAKE_MIGRATIONS_DIR",
            "path",
            None,
            "where `ticklake migrate` and first use read the SQL migrations",
            default_doc="the `migrations/` beside the package",
        ),
        # --- Dagster --------------------------------------------------------------------------------
        Setting(
            "DAGSTER_HOME",
            "path",
            None,
            "the Dagster instance: its `dagster.yaml` and storage; the CLI reports materializations to it",
            default_doc="`$TICKLAKE_HOME/dagster` once `ticklake dev` prepared it",
        ),
        Setting(
            "DAGSTER_PG_URL",
            "url",
            None,
            "Dagster's run/event/schedule storage",
            secret=True,
            default_doc="`DATABASE_URL`, else the embedded server's `dagster` database",
        ),
        Setting(
            "TICKLAKE_DAGSTER_PG_URL",
            "url",
            None,
            "Dagster's storage URL as the prepared `dagster.yaml` reads it (from `DAGSTER_PG_URL`); not set by hand",
            secret=True,
            default_doc="set by `ticklake dev`",
        ),
        # Dagster buffers a batch's events (a run's planned events) up to this many before one write; a run of
        # 183 days x 2 assets plans 366. Only our event log writes planned events as one batch (dagster_storage).
        Setting(
            "DAGSTER_EVENT_BATCH_SIZE",
            "int",
            1000,
            "events Dagster writes at once; ticklake's event log writes a run's planned events in one INSERT; `0`: off",
            minimum=0,
            default_doc="`1000` (set by `ticklake dev`)",
        ),
        Setting("DAGSTER_WEBSERVER_URL", "url", "http://127.0.0.1:3000", "base of the run links in alerts"),
        Setting(
            "TICKLAKE_ALERT_WEBHOOK_URL",
            "url",
            None,
            "Slack-compatible incoming webhook for failed checks and runs (a secret: it carries the token)",
            secret=True,
            default_doc="unset: alerts go to the sensor's log",
        ),
        # --- partitions and runs --------------------------------------------------------------------
        Setting(
            "TICKLAKE_START_DATE",
            "date",
            None,
            "first daily partition; earlier days belong to the history path",
            default_doc="first of the month 12 months back",
        ),
        Setting("TICKLAKE_HISTORY_START", "date", "2003-05-01", "first monthly history partition"),
        Setting(
            "TICKLAKE_BACKFILL_PARTITIONS_PER_RUN",
            "int",
            183,
            "partitions (days of one symbol) a backfill puts in one run: half a year",
            minimum=1,
        ),
        Setting(
            "TICKLAKE_HISTORY_PARTITIONS_PER_RUN",
            "int",
            12,
            "symbol-months a `dukascopy_ticks` or history backfill puts in one run",
            minimum=1,
        ),
        # --- thresholds (TicklakeSettings) ----------------------------------------------------------
        Setting("TICKLAKE_RETENTION_DAYS", "int", 90, "days of 5-minute candles kept in the database", minimum=1),
        Setting(
            "TICKLAKE_LATE_DATA_DAYS",
            "int",
            7,
            "days before yesterday the 02:00 schedule re-checks for late parts",
            minimum=0,
        ),
        Setting(
            "TICKLAKE_SENSOR_REFRESH_SECONDS",
            "float",
            300.0,
            "a partition with new parts (a live day) is re-materialized at most this often",
            minimum=0,
        ),
        Setting(
            "TICKLAKE_SENSOR_LIVE_DAYS",
            "int",
            2,
            "days tailed every sensor tick (today and yesterday)",
            minimum=1,
        ),
        Setting(
            "TICKLAKE_SENSOR_SWEEP_KEYS",
            "int",
            5000,
            "keys the sensor's rotating sweep for late parts reads per tick",
            minimum=0,
        ),
        Setting(
            "TICKLAKE_SENSOR_SWEEP_MINUTES",
            "float",
            60.0,
            "a symbol's sweep pass (late parts for older days) starts at most this long after its last one finished",
            minimum=0,
        ),
        Setting(
            "TICKLAKE_MAX_REJECTED_RATIO",
            "float",
            0.01,
            "`r2_ticks` check: fails above this share of rejected rows (rejected / rows read)",
            minimum=0,
        ),
        Setting(
            "TICKLAKE_MIN_ROWS_FOR_REJECTED_RATIO",
            "int",
            100,
            "`r2_ticks` check: days with fewer rows skip the rejected-ratio check",
            minimum=0,
        ),
        Setting(
            "TICKLAKE_MAX_GAP_BUCKETS",
            "int",
            6,
            "`candles_5m` gaps check: longest run of missing 5-minute candles while the market is open",
            minimum=0,
        ),
        Setting(
            "TICKLAKE_FRESHNESS_MINUTES",
            "float",
            30.0,
            "`candles_5m` freshness check: newest candle (and raw part) age limit while the market is open",
            minimum=0,
        ),
        # --- market sessions ------------------------------------------------------------------------
        Setting(
            "TICKLAKE_SESSIONS",
            "str",
            None,
            "a symbol's own session: `US500=America/New_York mon-fri 09:30-16:00, DOGEUSD=crypto`",
            default_doc="FX/metals: Sun 17:00-Fri 17:00 New York; crypto: 24/7",
        ),
        Setting(
            "TICKLAKE_MARKET_HOLIDAYS",
            "str",
            None,
            "closed trade dates by symbol or class: `fx=12-25 01-01, EURUSD=2026-04-03` (`MM-DD` repeats yearly)",
            default_doc="none",
        ),
        # --- the ingester (IngesterResource) --------------------------------------------------------
        Setting(
            "TICKLAKE_INGEST_SPOOL_DIR", "path", None, "write-ahead spool folder", default_doc="`$TICKLAKE_HOME/spool`"
        ),
        Setting("TICKLAKE_INGEST_BATCH_SIZE", "int", 1000, "a symbol's batch is flushed at this many ticks", minimum=1),
        Setting(
            "TICKLAKE_INGEST_MAX_AGE_SECONDS",
            "float",
            300.0,
            "... or this long after its first tick, whichever comes first",
            minimum=0,
            above=True,
        ),
        Setting(
            "TICKLAKE_INGEST_FLUSH_LATENCY_MS",
            "float",
            50.0,
            "group commit window: longest wait before the spool's fsync",
            minimum=0,
            above=True,
            maximum=10_000,
        ),
        Setting(
            "TICKLAKE_INGEST_DISK_BUDGET_MB",
            "float",
            1024.0,
            "spool size past which new ticks are refused",
            minimum=0,
            above=True,
        ),
        Setting(
            "TICKLAKE_INGEST_SEGMENT_MB",
            "float",
            8.0,
            "spool segment size before a new one starts",
            minimum=0,
            above=True,
        ),
        Setting("TICKLAKE_INGEST_UPLOAD_CONCURRENCY", "int", 4, "parts uploaded at once", minimum=1, maximum=64),
        Setting(
            "TICKLAKE_INGEST_RETRY_BASE_SECONDS",
            "float",
            0.5,
            "first upload retry delay (doubles, jittered)",
            minimum=0,
            above=True,
        ),
        Setting(
            "TICKLAKE_INGEST_RETRY_MAX_SECONDS", "float", 30.0, "longest upload retry delay", minimum=0, above=True
        ),
        Setting(
            "TICKLAKE_INGEST_RECONNECT_BASE_SECONDS",
            "float",
            0.5,
            "first WebSocket reconnect delay (doubles, jittered)",
            minimum=0,
            above=True,
        ),
        Setting(
            "TICKLAKE_INGEST_RECONNECT_MAX_SECONDS",
            "float",
            30.0,
            "longest WebSocket reconnect delay",
            minimum=0,
            above=True,
        ),
        Setting(
            "TICKLAKE_INGEST_SHUTDOWN_TIMEOUT_SECONDS",
            "float",
            30.0,
            "SIGTERM: how long to keep uploading",
            minimum=0,
        ),
        Setting(
            "TICKLAKE_INGEST_GIVE_UP_SECONDS",
            "float",
            300.0,
            "finite sources: exit 1 (keeping the spool) once the lake took no part this long",
            minimum=0,
            above=True,
        ),
        Setting("TICKLAKE_INGEST_METRICS_HOST", "str", "127.0.0.1", "address /metrics and /health listen on"),
        Setting(
            "TICKLAKE_INGEST_METRICS_PORT",
            "int",
            None,
            "port of /metrics and /health",
            minimum=0,
            maximum=65535,
            default_doc="unset: no metrics server",
        ),
        Setting(
            "TICKLAKE_INGEST_MAX_SYMBOLS_PER_MESSAGE",
            "int",
            10_000,
            "a feed message naming more distinct symbols is refused (`too_many_symbols`)",
            minimum=1,
        ),
        Setting(
            "TICKLAKE_INGEST_DEGRADED_MODE",
            "str",
            "spool",
            "no lake credentials: `spool` keeps ticks until a restart with them, `file` writes the local file lake",
        ),
        Setting("TICKLAKE_INGEST_SUBSCRIBE", "str", None, "message sent on every WebSocket (re)connect"),
        # --- the candles API ------------------------------------------------------------------------
        Setting(
            "TICKLAKE_ONDEMAND_MAX_DAYS",
            "int",
            31,
            "most days one `/api/candles` request builds from the lake",
            minimum=1,
        ),
        Setting(
            "TICKLAKE_ONDEMAND_CACHE_MB",
            "float",
            64.0,
            "memory for lake days the API has built (LRU, counted in bytes)",
            minimum=1,
        ),
        # --- prices of `ticklake lake stats` and `lake_stats` ---------------------------------------
        _price("TICKLAKE_PRICE_R2_STORAGE_GB_MONTH", 0.015, "R2 storage, $ per GB-month"),
        _price(
            "TICKLAKE_PRICE_R2_CLASS_A_MILLION", 4.50, "R2 Class A operations (PutObject, ListObjects), $ per million"
        ),
        _price(
            "TICKLAKE_PRICE_R2_CLASS_B_MILLION", 0.36, "R2 Class B operations (GetObject, HeadObject), $ per million"
        ),
        _price("TICKLAKE_PRICE_R2_FREE_STORAGE_GB", 10.0, "R2 storage free each month, GB-months"),
        _price("TICKLAKE_PRICE_R2_FREE_CLASS_A_MILLION", 1.0, "R2 Class A operations free each month, millions"),
        _price("TICKLAKE_PRICE_R2_FREE_CLASS_B_MILLION", 10.0, "R2 Class B operations free each month, millions"),
        _price("TICKLAKE_PRICE_S3_STORAGE_GB_MONTH", 0.023, "S3 Standard storage, $ per GB-month"),
        _price("TICKLAKE_PRICE_S3_PUT_MILLION", 5.00, "S3 PUT/LIST requests, $ per million"),
        _price("TICKLAKE_PRICE_S3_GET_MILLION", 0.40, "S3 GET/HEAD requests, $ per million"),
        _price("TICKLAKE_PRICE_S3_EGRESS_GB", 0.09, "S3 data transfer out, $ per GB"),
        # --- the Dukascopy history import (DukascopyResource) ---------------------------------------
        Setting(
            "TICKLAKE_DUKASCOPY_URL",
            "url",
            None,
            "the feed's base URL (a mirror)",
            default_doc="Dukascopy's own",
        ),
        Setting(
            "TICKLAKE_DUKASCOPY_FEED", "str", "json", "`json` (the API, default since 2026) or `bi5` (datafeed files)"
        ),
        Setting(
            "TICKLAKE_DUKASCOPY_CONCURRENCY",
            "int",
            8,
            "requests in flight in total, shared by all import steps of the `dukascopy` pool",
            minimum=1,
            maximum=64,
        ),
        # --- the CLI --------------------------------------------------------------------------------
        Setting(
            "TICKLAKE_DEBUG",
            "flag",
            False,
            "any value: an unexpected error prints its traceback",
            default_doc="unset",
        ),
    )
}


def setting(name: str) -> Setting:
    """The registry's entry; a name it does not hold is a bug, not bad input."""
    try:
        return SETTINGS[name]
    except KeyError:
        raise KeyError(f"{name} is not in the settings registry (ticklake_dagster/core/settings.py)") from None


def is_set(name: str) -> bool:
    """Set to a non-empty value (an empty variable counts as unset everywhere)."""
    setting(name)
    return bool(os.environ.get(name))


def get(name: str, *, check_bounds: bool = True) -> Any:
    """The variable's value now, parsed by its kind; unset or empty means the default.

    `check_bounds=False` leaves the bounds to a resource whose own validation applies the same ones.
    """
    s = setting(name)
    text = os.environ.get(name)
    if not text:
        return s.default
    return parse(s, text, check_bounds=check_bounds)


def parse(s: Setting, text: str, *, check_bounds: bool = True) -> Any:
    """`text` as `s`'s kind; a bad value is one line naming the variable (and the value, unless a secret)."""

    def invalid(reason: str) -> InvalidInput:
        return InvalidInput(f"Invalid {s.name}{'' if s.secret else f'={text!r}'}: {reason}")

    if s.kind == "flag":
        return True
    if s.kind == "date":
        try:
            parse_day(text)
        except InvalidInput as e:
            raise invalid(str(e).partition(": ")[2]) from None
        return text
    if s.kind not in ("int", "float"):
        return text
    try:
        value = int(text) if s.kind == "int" else float(text)
    except ValueError:
        raise invalid("expected a whole number" if s.kind == "int" else "expected a number") from None
    if check_bounds:
        if s.minimum is not None and (value <= s.minimum if s.above else value < s.minimum):
            raise invalid(f"must be {'more than' if s.above else 'at least'} {s.minimum:g}")
        if s.maximum is not None and value > s.maximum:
            raise invalid(f"must be at most {s.maximum:g}")
    return value


# --- values derived from settings -------------------------------------------------------------------


def ticklake_home() -> Path:
    """TICKLAKE_HOME (default ./.ticklake): the local lake, the embedded database, the spool, Dagster's home."""
    return Path(get("TICKLAKE_HOME")).resolve()


def configured_dagster_home() -> Path | None:
    """The Dagster instance to report to: DAGSTER_HOME when set, else the one `ticklake dev` prepared, else none.

    Here, not in instance.py, so the CLI learns whether to report without importing Dagster.
    """
    if is_set("DAGSTER_HOME"):
        return Path(get("DAGSTER_HOME"))
    prepared = ticklake_home() / "dagster"
    return prepared if (prepared / "dagster.yaml").is_file() else None


def default_start_date(today: dt.date) -> dt.date:
    """The first of the month twelve months before today's: about a year of daily partitions.

    A month boundary, so the daily window never splits a monthly history partition; it moves once a month.
    """
    return dt.date(today.year - 1, today.month, 1)


def start_date() -> str:
    """TICKLAKE_START_DATE, the first daily partition (days before it are the history path's), as YYYY-MM-DD."""
    return get("TICKLAKE_START_DATE") or default_start_date(dt.datetime.now(dt.timezone.utc).date()).isoformat()


def history_start() -> str:
    """TICKLAKE_HISTORY_START, the first monthly history partition (Dukascopy's EURUSD begins in May 2003)."""
    return get("TICKLAKE_HISTORY_START")


# --- the docs' table --------------------------------------------------------------------------------


def default_text(s: Setting) -> str:
    """The default as the docs show it: `default_doc`, else the value as code, else nothing (unset)."""
    if s.default_doc is not None:
        return s.default_doc
    if s.default is None:
        return ""
    return f"`{s.default:g}`" if isinstance(s.default, float) else f"`{s.default}`"


def bounds_text(s: Setting) -> str:
    parts = []
    if s.minimum is not None:
        parts.append(f"{'>' if s.above else '≥'} {s.minimum:g}")
    if s.maximum is not None:
        parts.append(f"≤ {s.maximum:g}")
    return ", ".join(parts)


def markdown_table() -> str:
    """The registry as docs/configuration.md shows it, one row per variable."""
    rows = ["| variable | kind | default | bounds | meaning |", "| --- | --- | --- | --- | --- |"]
    for s in SETTINGS.values():
        kind = f"{s.kind}, secret" if s.secret else s.kind
        cells = (f"`{s.name}`", kind, default_text(s), bounds_text(s), s.doc)
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
