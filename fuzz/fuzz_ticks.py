"""Coverage-guided fuzz target (atheris, libFuzzer) for the tick parser and the part readers.

    python fuzz/fuzz_ticks.py CORPUS_DIR [SEED_DIR ...] [libFuzzer flags: -max_total_time=N, -runs=N, -seed=N]
    python fuzz/fuzz_ticks.py --write-seeds DIR     (the seed inputs kept in fuzz/seeds)

An input's first byte picks the target: raw feed lines for the ingester's parser, a legacy JSON part, or
a Parquet part. A finding is an exception other than the one-line per-part LakeError, or a broken
promise: a tick neither accepted as valid nor counted under a reason.
"""

import datetime as dt
import io
import json
import sys
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["ticklake_dagster"]):
    from ticklake_dagster.core.days import DAY_MS, day_start_ms
    from ticklake_dagster.core.errors import LakeError
    from ticklake_dagster.lake.parts import read_part, to_frame
    from ticklake_dagster.sources.ingest.parse import parse_messages
    from ticklake_dagster.ticks.validation import MAX_PRICE, clean_day

DAY = dt.date(2025, 11, 13)
START = day_start_ms(DAY)
NOW_MS = START + DAY_MS
PARSER, JSON_PART, PARQUET_PART = 0, 1, 2


def check_parser(data: bytes) -> None:
    result = parse_messages(data.split(b"\n"), NOW_MS)
    block = result.block
    assert len(block) + sum(result.rejected.values()) == result.received, (len(block), result.rejected, result.received)
    assert (block.bid > 0).all() and (block.bid <= block.ask).all(), "an accepted tick is not a valid quote"
    assert all(0 <= c < len(block.symbols) for c in set(block.codes.tolist())), "a symbol code out of range"


def check_part(key: str, data: bytes) -> None:
    try:
        raw = read_part(key, data)
    except LakeError as e:
        assert key in str(e) and "\n" not in str(e), str(e)
        return
    clean = clean_day(to_frame([raw]), DAY)
    assert clean.rows_read == raw.num_rows
    assert len(clean.ticks) + clean.rejected_total + clean.duplicates == raw.num_rows
    t = clean.ticks
    assert ((t["bid"] > 0) & (t["bid"] <= t["ask"]) & (t["ask"] <= MAX_PRICE)).all()
    assert ((t["ts_ms"] >= START) & (t["ts_ms"] < START + DAY_MS)).all()


def test_one_input(data: bytes) -> None:
    if not data:
        return
    target, payload = data[0] % 3, data[1:]
    if target == PARSER:
        check_parser(payload)
    elif target == JSON_PART:
        check_part("ticks/X/2025/11/13/part-1-a.json", payload)
    else:
        check_part("ticks/X/2025/11/13/part-1-a.parquet", payload)


def seeds() -> dict[str, bytes]:
    """Small valid inputs of each kind, so the fuzzer starts from inside the formats."""
    import numpy as np

    from ticklake_dagster.lake.parts import ticks_to_parquet

    s = START // 1000
    feed = "\n".join(
        [
            json.dumps({"symbol": "EURUSD", "bid": 1.1, "ask": 1.2, "timestamp": NOW_MS - 5}),
            json.dumps([{"symbol": "BTC-USD", "bid": "1", "ask": 2, "timestamp": "2025-11-13T10:00:00Z"}]),
            '{"symbol": "X", "bid": true, "ask": 1e999, "timestamp": 1}',
        ]
    )
    legacy = json.dumps(
        [
            {"timestamp": s + 1, "bid": 1.0, "ask": 1.1},
            {"timestamp": s + 2.5, "bid": "1.0", "ask": 1.1},
            {"timestamp": START, "bid": True, "ask": None},
        ]
    )
    parquet = ticks_to_parquet(
        np.array([START, START + 1, START + 2]), np.array([1.0, 1.1, 2.0]), np.array([1.1, 1.1, 1.0])
    )
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(
        pa.table({"ts": pa.array([START], pa.timestamp("us")), "bid": [True], "ask": pa.array([2], pa.int32())}), buf
    )
    return {
        "parser": bytes([PARSER]) + feed.encode(),
        "legacy_json": bytes([JSON_PART]) + legacy.encode(),
        "parquet": bytes([PARQUET_PART]) + parquet,
        "parquet_odd_types": bytes([PARQUET_PART]) + buf.getvalue(),
    }


def main(argv: list[str]) -> None:
    if len(argv) == 3 and argv[1] == "--write-seeds":
        folder = Path(argv[2])
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in seeds().items():
            (folder / name).write_bytes(data)
        return
    for arg in argv[1:]:
        if not arg.startswith("-"):
            Path(arg).mkdir(parents=True, exist_ok=True)
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
