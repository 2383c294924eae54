"""Every bad-input reason, every timestamp format: checked against values computed independently here."""

import datetime as dt
import json

import numpy as np
import pytest

from ticklake_dagster.sources.ingest.parse import MIN_TS_MS, REJECT_REASONS, concat_blocks, parse_messages

NOW = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.timezone.utc)
NOW_MS = int(NOW.timestamp() * 1000)
T = dt.datetime(2025, 11, 13, 9, 30, 15, 250000, tzinfo=dt.timezone.utc)
T_MS = int(T.timestamp()) * 1000 + 250


def tick(**kw):
    return json.dumps({"symbol": "EURUSD", "bid": 1.1, "ask": 1.2, "timestamp": T_MS, **kw})


def only_reason(message) -> str:
    result = parse_messages([message], NOW_MS)
    assert len(result.block) == 0, f"{message!r} was accepted"
    assert sum(result.rejected.values()) == 1 and result.received == 1
    reason = next(iter(result.rejected))
    assert reason in REJECT_REASONS and reason in result.examples
    return reason


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (b"{not json", "malformed_json"),
        (b"\x00", "malformed_json"),
        ('{"symbol": "EURUSD", "bid": 1.1', "malformed_json"),
        (b"\xff\xfe", "malformed_json"),
        ("42", "not_a_tick"),
        ('"EURUSD"', "not_a_tick"),
        ("[[1, 2]]", "not_a_tick"),
        (json.dumps({"symbol": "EURUSD", "bid": 1.1, "ask": 1.2}), "missing_field"),
        (json.dumps({"bid": 1.1, "ask": 1.2, "timestamp": T_MS}), "missing_field"),
        (tick(ask=None), "missing_field"),
        (tick(symbol="../x"), "invalid_symbol"),
        (tick(symbol="eurusd"), "invalid_symbol"),
        (tick(symbol="EUR/USD"), "invalid_symbol"),
        (tick(symbol="A" * 33), "invalid_symbol"),
        (tick(symbol="EURUSD\n"), "invalid_symbol"),
        (tick(symbol=["EURUSD"]), "invalid_symbol"),
        (tick(symbol=7), "invalid_symbol"),
        (tick(bid="cheap"), "invalid_price"),
        (tick(bid=True), "invalid_price"),
        (tick(ask={"v": 1}), "invalid_price"),
        ('{"symbol": "EURUSD", "bid": NaN, "ask": 1.2, "timestamp": %d}' % T_MS, "non_finite"),
        ('{"symbol": "EURUSD", "bid": 1.1, "ask": Infinity, "timestamp": %d}' % T_MS, "non_finite"),
        ('{"symbol": "EURUSD", "bid": 1.1, "ask": 1e999, "timestamp": %d}' % T_MS, "non_finite"),
        (tick(bid="nan"), "non_finite"),
        (tick(bid=0), "non_positive"),
        (tick(bid=-1.1, ask=-1.0), "non_positive"),
        (tick(bid=1.3, ask=1.2), "crossed"),
        (tick(timestamp="yesterday"), "invalid_timestamp"),
        (tick(timestamp=[1]), "invalid_timestamp"),
        (tick(timestamp=10**400), "invalid_timestamp"),
        ('{"symbol": "EURUSD", "bid": 1.1, "ask": 1.2, "timestamp": NaN}', "invalid_timestamp"),
        (tick(timestamp=MIN_TS_MS - 1), "too_old"),
        (tick(timestamp="1989-12-31T23:59:59Z"), "too_old"),
        (tick(timestamp="1971-06-01T00:00:00Z"), "too_old"),
        (tick(timestamp=0), "too_old"),
        (tick(timestamp=NOW_MS + 86_400_000 + 1), "in_future"),
        (tick(timestamp=(NOW_MS + 2 * 86_400_000) / 1000), "in_future"),
    ],
)
def test_each_bad_input_is_rejected_under_its_reason(message, reason):
    assert only_reason(message) == reason


def test_the_first_failing_reason_counts_once():
    # Invalid symbol and crossed and too old: counted once, as invalid_symbol.
    assert only_reason(tick(symbol="../x", bid=2.0, ask=1.0, timestamp=5)) == "invalid_symbol"
    assert only_reason(tick(bid=-2.0, ask=-3.0)) == "non_positive"


@pytest.mark.parametrize(
    "stamp",
    [
        T_MS,
        T_MS / 1000,
        str(T_MS),
        "2025-11-13T09:30:15.250Z",
        "2025-11-13T09:30:15.250+00:00",
        "2025-11-13T10:30:15.250+01:00",
        "2025-11-13 09:30:15.250",
        "2025-11-13T09:30:15.250999Z",
    ],
)
def test_timestamps_in_ms_seconds_and_iso8601_agree(stamp):
    result = parse_messages([tick(timestamp=stamp)], NOW_MS)
    assert result.rejected == {} and result.block.ts_ms.tolist() == [T_MS]


def test_boundaries_one_day_ahead_and_1990_are_accepted():
    result = parse_messages([tick(timestamp=NOW_MS + 86_400_000), tick(timestamp=MIN_TS_MS)], NOW_MS)
    assert result.rejected == {} and sorted(result.block.ts_ms.tolist()) == [MIN_TS_MS, NOW_MS + 86_400_000]


def test_arrays_numeric_strings_and_mixed_batches():
    good = [
        {"symbol": s, "bid": b, "ask": b + 0.0002, "timestamp": T_MS + i}
        for i, (s, b) in enumerate([("EURUSD", 1.1), ("GBPUSD", 1.27), ("EURUSD", 1.1001), ("BTC-USD", 64000.5)])
    ]
    messages = [
        json.dumps(good[:2]),
        json.dumps(good[2]).encode(),
        b"garbage",
        tick(bid=5.0, ask=1.0),
        json.dumps({**good[3], "bid": str(good[3]["bid"])}),
    ]
    result = parse_messages(messages, NOW_MS)
    assert result.received == 6
    assert result.rejected == {"malformed_json": 1, "crossed": 1}
    block = result.block
    got = sorted(
        zip([block.symbols[c] for c in block.codes], block.ts_ms.tolist(), block.bid.tolist(), block.ask.tolist())
    )
    assert got == sorted((g["symbol"], g["timestamp"], g["bid"], g["ask"]) for g in good)
    per_symbol = {s: rows.tolist() for s, rows in block.per_symbol()}
    assert {s: [block.ts_ms[i] for i in rows] for s, rows in per_symbol.items()} == {
        "EURUSD": [T_MS, T_MS + 2],
        "GBPUSD": [T_MS + 1],
        "BTC-USD": [T_MS + 3],
    }


def test_random_garbage_never_raises_and_every_message_is_accounted_for():
    rng = np.random.default_rng(7)
    messages = [bytes(rng.integers(0, 256, rng.integers(0, 40)).astype("uint8")) for _ in range(300)]
    messages += ["[" * 5000, '{"symbol": {"a": [1, {"b": 2}]}}', "null", "[]", "{}"]
    result = parse_messages(messages, NOW_MS)
    assert len(result.block) == 0
    assert result.received == sum(result.rejected.values())  # "[]" holds no tick, so it counts as none


def test_blank_lines_are_not_ticks_and_crlf_lines_parse():
    result = parse_messages([b"", b"   ", b"\r", tick().encode() + b"\r", "\t\n"], NOW_MS)
    assert result.received == 1 and result.rejected == {} and result.block.ts_ms.tolist() == [T_MS]


def test_concat_blocks_remaps_symbols():
    a = parse_messages([tick(symbol="AAA"), tick(symbol="BBB")], NOW_MS).block
    b = parse_messages([tick(symbol="BBB", bid=1.15), tick(symbol="CCC")], NOW_MS).block
    both = concat_blocks([a, b])
    assert [both.symbols[c] for c in both.codes] == ["AAA", "BBB", "BBB", "CCC"]
    assert both.bid.tolist() == [1.1, 1.1, 1.15, 1.1]


def test_a_message_naming_too_many_distinct_symbols_is_refused_whole():
    five = json.dumps([json.loads(tick(symbol=f"S{i}")) for i in range(5)])
    same = json.dumps([json.loads(tick()) for _ in range(9)])
    result = parse_messages([five, same], NOW_MS, max_symbols=4)
    assert result.rejected == {"too_many_symbols": 5} and result.received == 14 and len(result.block) == 9
    assert result.examples["too_many_symbols"].startswith('[{"symbol": "S0"')
    assert len(parse_messages([five], NOW_MS, max_symbols=5).block) == 5
