"""Asset checks on r2_ticks and candles_5m: pure per-partition rules, summarised into one result per check.

The checks run inside the asset's step (the data is already at hand), so a backfill run of 60 partitions
evaluates all 60 and reports one result per check that names every failing partition. ERROR checks are
blocking: a failure fails the step, so nothing downstream of it runs.
"""

import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ticklake_dagster.candles.building import BUCKET_MS
from ticklake_dagster.core.days import DAY_MS, day_start_ms, iso_ms
from ticklake_dagster.core.sessions import open_intervals, trading_at
from ticklake_dagster.core.timeframes import VOLUMES
from ticklake_dagster.defs.partitions import partition_key
from ticklake_dagster.defs.resources.deployment_settings import TicklakeSettings
from ticklake_dagster.lake.parts import DAILY_SCHEMA

# r2_ticks (ERROR, blocking)
TICKS_SCHEMA_CHECK = "schema"
TICKS_SORTED_CHECK = "sorted_by_ts"
TICKS_NO_DUPLICATES_CHECK = "no_exact_duplicates"
TICKS_BID_LE_ASK_CHECK = "bid_not_above_ask"
TICKS_INSIDE_DAY_CHECK = "ticks_inside_day"
TICKS_REJECTED_RATIO_CHECK = "rejected_ratio"
# candles_5m (ERROR, blocking, except gaps and freshness: WARN)
CANDLES_OHLC_CHECK = "ohlc_consistent"
CANDLES_UNIQUE_CHECK = "unique_symbol_time"
CANDLES_TRADES_CHECK = "trades_match_tick_count"
CANDLES_GAPS_CHECK = "gaps"
CANDLES_FRESHNESS_CHECK = "freshness"

ERROR = dg.AssetCheckSeverity.ERROR
WARN = dg.AssetCheckSeverity.WARN

TICKS_CHECKS = {
    TICKS_SCHEMA_CHECK: "The compacted day has exactly the ts/bid/ask/bid_volume/ask_volume schema readers rely on.",
    TICKS_SORTED_CHECK: "Ticks are sorted by ts.",
    TICKS_NO_DUPLICATES_CHECK: "No exact duplicate (ts, bid, ask, bid_volume, ask_volume) rows.",
    TICKS_BID_LE_ASK_CHECK: "bid <= ask on every tick.",
    TICKS_INSIDE_DAY_CHECK: "Every tick lies inside the partition's UTC day.",
    TICKS_REJECTED_RATIO_CHECK: (
        "Rows rejected by validation stay under TICKLAKE_MAX_REJECTED_RATIO of the rows read (days of 100+ rows)."
    ),
}
CANDLES_CHECKS = {
    CANDLES_OHLC_CHECK: ("low <= open, close <= high on every candle.", ERROR),
    CANDLES_UNIQUE_CHECK: ("One candle per (symbol, time).", ERROR),
    CANDLES_TRADES_CHECK: ("The day's sum(trades) equals its compacted tick count.", ERROR),
    CANDLES_GAPS_CHECK: (
        "No run of missing 5-minute buckets longer than TICKLAKE_MAX_GAP_BUCKETS while the market is open.",
        WARN,
    ),
    CANDLES_FRESHNESS_CHECK: (
        "Today's latest candle is younger than TICKLAKE_FRESHNESS_MINUTES while the market is open.",
        WARN,
    ),
}


def ticks_check_specs(asset_key: dg.AssetKey | str) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(name, asset=asset_key, description=text, blocking=True) for name, text in TICKS_CHECKS.items()
    ]


def candles_check_specs(asset_key: dg.AssetKey | str) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(name, asset=asset_key, description=text, blocking=severity == ERROR)
        for name, (text, severity) in CANDLES_CHECKS.items()
    ]


# --- r2_ticks: one compacted day -------------------------------------------------------------------


def read_compacted_table(data: bytes | None) -> pa.Table | None:
    return None if data is None else pq.ParquetFile(pa.BufferReader(data)).read(use_threads=False)


def count_exact_duplicates(
    ts: np.ndarray, bid: np.ndarray, ask: np.ndarray, ts_sorted: bool, volumes: tuple[np.ndarray, ...] = ()
) -> int:
    """Rows equal (NaN equal to NaN) to an earlier row in ts, bid, ask (and the volumes, as compaction compares them).

    Sorted by time, only rows that share a timestamp can repeat each other, so hashing is limited to
    those (at most a few per day) instead of hashing the whole day.
    """
    columns = {"ts": ts, "bid": bid, "ask": ask, **{f"v{i}": v for i, v in enumerate(volumes)}}
    if ts_sorted:
        shared = ts[1:] == ts[:-1]
        if not shared.any():
            return 0
        rows = np.zeros(len(ts), dtype=bool)
        rows[1:] |= shared
        rows[:-1] |= shared
        columns = {name: values[rows] for name, values in columns.items()}
    return int(pd.DataFrame(columns).duplicated().sum())


def ticks_findings(
    table: pa.Table | None, day: dt.date, rows_read: int, rejected: int, settings: TicklakeSettings
) -> dict[str, str | None]:
    """Each r2_ticks check for one symbol-day: None when it passes, else why it fails."""
    out: dict[str, str | None] = dict.fromkeys(TICKS_CHECKS)
    ratio = rejected / rows_read if rows_read else 0.0
    if rows_read >= settings.min_rows_for_rejected_ratio and ratio > settings.max_rejected_ratio:
        out[TICKS_REJECTED_RATIO_CHECK] = (
            f"{rejected} of {rows_read} rows rejected ({ratio:.2%} > {settings.max_rejected_ratio:.2%})"
        )
    if table is None:
        return out  # no parts, no compacted file: nothing else to check
    if not table.schema.equals(DAILY_SCHEMA, check_metadata=False):
        shown = table.schema.to_string(show_schema_metadata=False)
        out[TICKS_SCHEMA_CHECK] = f"schema is {shown!r}, expected {DAILY_SCHEMA.to_string()!r}"
        return out  # the other rules need the right columns
    ts = table.column("ts").cast(pa.int64()).to_numpy()
    bid = table.column("bid").to_numpy()
    ask = table.column("ask").to_numpy()
    unsorted = int(np.count_nonzero(ts[1:] < ts[:-1]))
    if unsorted:
        out[TICKS_SORTED_CHECK] = f"{unsorted} ticks earlier than the tick before them"
    volumes = tuple(table.column(name).to_numpy(zero_copy_only=False) for name in VOLUMES)
    dups = count_exact_duplicates(ts, bid, ask, ts_sorted=not unsorted, volumes=volumes)
    if dups:
        out[TICKS_NO_DUPLICATES_CHECK] = f"{dups} exact duplicate ticks"
    crossed = int(np.count_nonzero(~(bid <= ask)))
    if crossed:
        out[TICKS_BID_LE_ASK_CHECK] = f"{crossed} ticks with bid > ask (or NaN)"
    start = day_start_ms(day)
    outside = int(np.count_nonzero((ts < start) | (ts >= start + DAY_MS)))
    if outside:
        out[TICKS_INSIDE_DAY_CHECK] = f"{outside} ticks outside {day}"
    return out


# --- candles_5m: the rows now in the database ------------------------------------------------------


def candles_findings(
    candles: pd.DataFrame, symbol: str, day: dt.date, tick_count: int, now: dt.datetime, settings: TicklakeSettings
) -> dict[str, str | None]:
    """Each candles_5m check for one symbol-day's rows (time as UTC timestamps, open/high/low/close, trades)."""
    out: dict[str, str | None] = dict.fromkeys(CANDLES_CHECKS)
    bad = ~(
        (candles["low"] <= candles[["open", "close"]].min(axis=1))
        & (candles[["open", "close"]].max(axis=1) <= candles["high"])
    )
    if bad.any():
        out[CANDLES_OHLC_CHECK] = (
            f"{int(bad.sum())} candles outside low <= open, close <= high (first at {candles.loc[bad, 'time'].iloc[0]})"
        )
    dups = int(candles.duplicated(["time"]).sum())
    if dups:
        out[CANDLES_UNIQUE_CHECK] = f"{dups} duplicate candle times"
    trades = int(candles["trades"].sum()) if len(candles) else 0
    if trades != tick_count:
        out[CANDLES_TRADES_CHECK] = f"sum(trades) is {trades}, the compacted day has {tick_count} ticks"
    spans = open_intervals(symbol, day)
    if not spans:
        return out
    now_ms = int(now.timestamp() * 1000)
    times = np.unique(candles["time"].to_numpy(dtype="datetime64[ms]").astype("int64"))
    close = spans[-1][1]
    if close > now_ms:
        latest_end = int(times[-1]) + BUCKET_MS if len(times) else spans[0][0]
        # still trading: up to the latest candle (freshness covers the rest)
        spans = [(lo, min(hi, latest_end)) for lo, hi in spans if lo < latest_end]
        age_min = (now_ms - latest_end) / 60_000
        if age_min > settings.freshness_minutes:
            out[CANDLES_FRESHNESS_CHECK] = (
                f"latest candle is {age_min:.0f} minutes old (limit {settings.freshness_minutes:g})"
            )
    # the session's hours are the reference: a closed stretch of the day is no gap
    per_span = [longest_gap(times, lo, hi) for lo, hi in spans]
    longest, missing = max((g[0] for g in per_span), default=0), sum(g[1] for g in per_span)
    if longest > settings.max_gap_buckets:
        out[CANDLES_GAPS_CHECK] = (
            f"{missing} missing 5-minute buckets, longest gap {longest} (limit {settings.max_gap_buckets})"
        )
    return out


def longest_gap(times_ms: np.ndarray, start_ms: int, end_ms: int) -> tuple[int, int]:
    """(longest run of consecutive missing buckets, total missing) in [start, end)."""
    n = (end_ms - start_ms) // BUCKET_MS
    if n <= 0:
        return 0, 0
    present = np.zeros(n, dtype=bool)
    idx = (times_ms[(times_ms >= start_ms) & (times_ms < end_ms)] - start_ms) // BUCKET_MS
    present[idx.astype("int64")] = True
    edges = np.flatnonzero(np.diff(np.r_[1, present.astype("int8"), 1]))  # starts/ends of missing runs
    runs = edges[1::2] - edges[::2]
    return (int(runs.max()) if len(runs) else 0), int(n - present.sum())


# --- the feed itself: candles_5m freshness reported by the lake sensor -------------------------------
# candles_5m's freshness check runs only when candles_5m does, and a dead ingester writes no parts, so
# nothing would run: the lake sensor evaluates the check itself from the newest part of each symbol.

# A symbol with no part for this long is retired, not stale: stop watching it (covers an FX weekend).
RETIRED_AFTER_MS = 4 * DAY_MS


def feed_freshness(
    newest_part_ms: dict[str, int], stale: dict[str, str], symbols: list[str], now: float, minutes: float
) -> list[dg.AssetCheckEvaluation]:
    """candles_5m freshness evaluations for feeds that went stale or came back; updates `stale` in place.

    `newest_part_ms`: symbol -> first tick of its newest raw part; `stale`: symbol -> partition its
    stale feed was reported on (both kept in the lake sensor's cursor).
    """
    now_ms = int(now * 1000)
    today = dt.datetime.fromtimestamp(now, dt.timezone.utc).date()
    events = []
    for symbol in symbols:
        newest = newest_part_ms.get(symbol)
        if newest is None or now_ms - newest > RETIRED_AFTER_MS:
            continue
        age_min = (now_ms - max(newest, day_start_ms(today))) / 60_000
        is_stale = trading_at(symbol, now_ms) and age_min > minutes
        reported = stale.get(symbol)
        key = str(partition_key(symbol, today))
        if is_stale and reported != key:
            stale[symbol] = key
            events.append(
                _freshness_evaluation(
                    key,
                    False,
                    f"no raw parts for {symbol} since {iso_ms(newest)} ({age_min:.0f} minutes, limit {minutes:g}) "
                    "while the market is open: is the ingester running?",
                )
            )
        elif not is_stale and reported is not None:
            stale.pop(symbol)
            events.append(
                _freshness_evaluation(reported, True, f"raw parts for {symbol} arrive again (newest {iso_ms(newest)})")
            )
    for gone in set(stale) - set(symbols):
        stale.pop(gone)
    return events


def _freshness_evaluation(partition: str, passed: bool, description: str) -> dg.AssetCheckEvaluation:
    return dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey("candles_5m"),
        check_name=CANDLES_FRESHNESS_CHECK,
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=description,
        partition=partition,
    )


# --- summary -----------------------------------------------------------------------------------------

MAX_LISTED = 50


def summarize(
    asset_key: dg.AssetKey | str, check_name: str, findings: dict[str, str | None], severity: dg.AssetCheckSeverity
) -> dg.AssetCheckResult:
    """One result for a check over every partition of the run (partition key -> failure or None)."""
    failed = {p: why for p, why in sorted(findings.items()) if why}
    if failed:
        first, why = next(iter(failed.items()))
        more = f" (and {len(failed) - 1} more partitions)" if len(failed) > 1 else ""
        description = f"{first}: {why}{more}"
    else:
        description = f"passed on {len(findings)} partition{'s' if len(findings) != 1 else ''}"
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=check_name,
        passed=not failed,
        severity=severity,
        description=description,
        metadata={
            "partitions_checked": len(findings),
            "partitions_failed": len(failed),
            "failed_partitions": ", ".join(list(failed)[:MAX_LISTED]),
            "failures": dg.MetadataValue.json(dict(list(failed.items())[:MAX_LISTED])),
        },
    )


def summarize_all(
    asset_key: dg.AssetKey | str,
    per_partition: dict[str, dict[str, str | None]],
    severities: dict[str, dg.AssetCheckSeverity],
) -> list[dg.AssetCheckResult]:
    return [
        summarize(asset_key, name, {p: f[name] for p, f in per_partition.items()}, severity)
        for name, severity in severities.items()
    ]


def selected_results(
    context: dg.AssetExecutionContext, results: list[dg.AssetCheckResult]
) -> list[dg.AssetCheckResult]:
    """The results the run asked for: a subsettable step (one that may record no data) yields only those."""
    wanted = context.selected_asset_check_keys
    selected = []
    for r in results:
        assert r.asset_key is not None and r.check_name is not None  # summarize() names both
        if dg.AssetCheckKey(dg.AssetKey.from_coercible(r.asset_key), r.check_name) in wanted:
            selected.append(r)
    return selected


TICKS_SEVERITIES = dict.fromkeys(TICKS_CHECKS, ERROR)
CANDLES_SEVERITIES = {name: severity for name, (_, severity) in CANDLES_CHECKS.items()}
