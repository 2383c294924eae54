"""Sustained ingest throughput: JSON lines -> parse -> spool (fsynced) -> per-symbol batches -> Parquet parts.

Runs `ticklake ingest`'s service on a JSON-lines file into a local file lake, and a naive ingester on the
same input in the same run (json.loads per line, per-tick Python checks and list appends, a pandas
DataFrame per batch), both pinned to one CPU core. Also prints bytes per tick of the Parquet parts next
to the legacy JSON parts ([{"timestamp": unix seconds, "bid", "ask"}, ...]) for the same batches.
`--parse-only` times just the parser (`parse_messages` over commits of 10,000 lines, best CPU time of 7), on
messages without volumes and, with `--volumes`, on messages that carry `bid_volume`/`ask_volume`.
Usage: python benchmarks/bench_ingest.py [--ticks N] [--symbols K] [--batch-size B] [--parse-only] [--volumes]
"""

import argparse
import asyncio
import datetime as dt
import io
import json
import logging
import math
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ticklake_dagster.core.days import day_start_ms  # noqa: E402
from ticklake_dagster.defs.resources import IngesterResource, LakeResource  # noqa: E402
from ticklake_dagster.lake.keys import RAW_ROOT, raw_part_key  # noqa: E402
from ticklake_dagster.lake.parts import read_part  # noqa: E402
from ticklake_dagster.lake.storage import FileLake  # noqa: E402
from ticklake_dagster.sources.ingest.parse import parse_messages  # noqa: E402
from ticklake_dagster.sources.ingest.service import IngestService  # noqa: E402
from ticklake_dagster.sources.ingest.sources import JsonlSource  # noqa: E402
from ticklake_dagster.sources.synthetic import RandomWalk  # noqa: E402

DAY = dt.date(2025, 11, 13)
SYMBOLS = ["EURUSD", "GBPUSD", "USDJPY", "AUDUSD", "XAUUSD", "BTC-USD", "ETH-USD", "USDCAD"]


def make_input(path: Path, n: int, k: int, volumes: bool = False) -> None:
    """n ticks over k symbols as a feed sends them: one JSON object per line, timestamps in ms."""
    with open(path, "w") as f:
        f.writelines(line + "\n" for line in make_lines(n, k, volumes))


def make_lines(n: int, k: int, volumes: bool = False) -> list[str]:
    """The feed's messages, one JSON tick each; with `volumes`, each also carries bid_volume and ask_volume."""
    rng = np.random.default_rng(1)
    codes = rng.integers(0, k, n)
    ts = day_start_ms(DAY) + np.sort(rng.integers(0, 86_400_000, n))
    bid, ask = np.empty(n), np.empty(n)
    for c in range(k):
        rows = codes == c
        bid[rows], ask[rows] = RandomWalk(SYMBOLS[c], seed=c).step(int(rows.sum()))
    lines = [
        f'{{"symbol":"{SYMBOLS[c]}","bid":{b},"ask":{a},"timestamp":{t}}}'
        for c, t, b, a in zip(codes.tolist(), ts.tolist(), bid.tolist(), ask.tolist())
    ]
    if volumes:
        sizes = np.round(rng.uniform(0.1, 5.0, (n, 2)) * 1e6).tolist()
        lines = [f'{line[:-1]},"bid_volume":{bv},"ask_volume":{av}}}' for line, (bv, av) in zip(lines, sizes)]
    return lines


def time_parse(lines: list[str], commit: int = 10_000, repeats: int = 7) -> float:
    """Best CPU time of `parse_messages` over the lines (as bytes, as sources deliver them) in commits.

    CPU time, not wall time: on a shared machine it is what the parser costs, whatever else runs.
    """
    raw = [line.encode() for line in lines]
    now_ms = day_start_ms(DAY) + 86_400_000
    best = math.inf
    for _ in range(repeats):
        start = time.process_time()
        for i in range(0, len(raw), commit):
            result = parse_messages(raw[i : i + commit], now_ms)
            assert not result.rejected, result.rejected
        best = min(best, time.process_time() - start)
    return best


def run_ticklake(source: Path, home: Path, batch_size: int) -> tuple[float, IngestService]:
    logging.getLogger("ticklake.ingest").setLevel(logging.WARNING)
    config = IngesterResource(
        lake=LakeResource(url=f"file://{home / 'lake'}"),
        home=str(home),
        batch_size=batch_size,
        batch_max_age_seconds=300.0,
    )
    service = IngestService(config, [JsonlSource(str(source))], handle_signals=False)
    start = time.perf_counter()
    assert asyncio.run(service.run()) == 0
    return time.perf_counter() - start, service


_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,31}$")


def run_naive(source: Path, home: Path, batch_size: int) -> float:
    """What one writes first: json.loads per line, per-tick checks and appends, a DataFrame per batch."""
    lake = FileLake(home / "lake")
    home.mkdir(parents=True, exist_ok=True)
    spool = open(home / "spool.jsonl", "ab")
    batches: dict[str, list] = {}
    start = time.perf_counter()

    def flush(symbol: str) -> None:
        rows = batches.pop(symbol)
        frame = pd.DataFrame(rows, columns=["ts", "bid", "ask"])
        frame["ts"] = pd.to_datetime(frame["ts"], unit="ms", utc=True)
        buf = io.BytesIO()
        frame.to_parquet(buf, compression="zstd", index=False)
        lake.put(raw_part_key(symbol, DAY, int(frame["ts"].iloc[0].value // 1_000_000)), buf.getvalue())

    with open(source, "rb") as f:
        for line in f:
            try:
                tick = json.loads(line)
                symbol, bid, ask, ts = tick["symbol"], float(tick["bid"]), float(tick["ask"]), tick["timestamp"]
            except (ValueError, KeyError, TypeError):
                continue
            if not _SYMBOL.match(symbol) or ".." in symbol:
                continue
            if not (math.isfinite(bid) and math.isfinite(ask)) or bid <= 0 or ask <= 0 or bid > ask:
                continue
            ts = ts if ts >= 1e11 else ts * 1000
            spool.write(line)
            rows = batches.setdefault(symbol, [])
            rows.append((ts, bid, ask))
            if len(rows) >= batch_size:
                spool.flush()
                os.fsync(spool.fileno())
                flush(symbol)
    spool.flush()
    os.fsync(spool.fileno())
    for symbol in list(batches):
        flush(symbol)
    spool.close()
    return time.perf_counter() - start


def part_sizes(lake: FileLake) -> tuple[int, int, int]:
    """(ticks, Parquet bytes, bytes of the same parts as legacy JSON arrays)."""
    ticks = parquet = as_json = 0
    for obj in lake.list(RAW_ROOT):
        table = read_part(obj.key, lake.get(obj.key))
        ticks += table.num_rows
        parquet += obj.size
        ts, bid, ask = (table.column(c).to_pylist() for c in ("ts_ms", "bid", "ask"))
        as_json += len(json.dumps([{"timestamp": t / 1000, "bid": b, "ask": a} for t, b, a in zip(ts, bid, ask)]))
    return ticks, parquet, as_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=1_000_000)
    parser.add_argument("--symbols", type=int, default=4, choices=range(1, len(SYMBOLS) + 1))
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--parse-only", action="store_true", help="time the parser alone")
    parser.add_argument("--volumes", action="store_true", help="with --parse-only: also messages with volumes")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, threads included
    if args.parse_only:
        for volumes in (False, True) if args.volumes else (False,):
            seconds = time_parse(make_lines(args.ticks, args.symbols, volumes))
            what = "with volumes   " if volumes else "without volumes"
            print(f"parse {what} : {args.ticks / seconds:>10,.0f} ticks/s  ({seconds:.3f} CPU s, best of 7)")
        return
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        tmp = Path(tmp)
        source = tmp / "ticks.jsonl"
        make_input(source, args.ticks, args.symbols)
        print(
            f"{args.ticks:,} ticks, {args.symbols} symbols, batches of {args.batch_size}, "
            f"input {source.stat().st_size / args.ticks:.0f} bytes/tick of JSON lines, 1 CPU core",
            flush=True,
        )
        seconds, service = run_ticklake(source, tmp / "ticklake", args.batch_size)
        accepted = service.metrics.total("ticklake_ingest_ticks_accepted_total")
        parts = service.metrics.total("ticklake_ingest_parts_uploaded_total")
        assert accepted == args.ticks, accepted
        naive_seconds = run_naive(source, tmp / "naive", args.batch_size)
        ticks, parquet, as_json = part_sizes(FileLake(tmp / "ticklake" / "lake"))
        assert ticks == args.ticks and not list((tmp / "ticklake" / "spool").glob("*.wal"))
        print(
            f"ticklake ingest : {args.ticks / seconds:>10,.0f} ticks/s  ({seconds:.2f} s, {parts:.0f} parts, "
            "spool fsynced per group commit)"
        )
        print(f"naive baseline  : {args.ticks / naive_seconds:>10,.0f} ticks/s  ({naive_seconds:.2f} s)")
        print(f"speed-up        : {naive_seconds / seconds:>10.1f}x")
        print(
            f"lake bytes/tick : {parquet / ticks:>10.1f} Parquet (zstd) vs {as_json / ticks:.1f} legacy JSON parts "
            f"({as_json / parquet:.1f}x smaller)"
        )


if __name__ == "__main__":
    main()
