"""Every bad-input reason, every timestamp format, the optional volumes: checked against values computed here."""

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


def volumes_of(block) -> list[tuple]:
    """(bid_volume, ask_volume) per tick, None where NaN (no volume)."""
    return [
        (None if np.isnan(b) else b, None if np.isnan(a) else a)
        for b, a in zip(block.bid_volume.tolist(), block.ask_volume.tolist())
    ]


def test_invalid_volume_is_a_reason_between_the_quote_checks_and_the_timestamp_checks():
    assert REJECT_REASONS.index("crossed") + 1 == REJECT_REASONS.index("invalid_volume")
    assert REJECT_REASONS.index("invalid_volume") + 1 == REJECT_REASONS.index("invalid_timestamp")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, (None, None)),
        ({"bid_volume": None, "ask_volume": None}, (None, None)),
        ({"bid_volume": 1_500_000.0, "ask_volume": 2_250_000.5}, (1_500_000.0, 2_250_000.5)),
        ({"bid_volume": 3}, (3.0, None)),
        ({"ask_volume": 0.25}, (None, 0.25)),
        ({"bid_volume": 0, "ask_volume": 0.0}, (0.0, 0.0)),
        ({"bid_volume": "1.5e6", "ask_volume": None}, (1.5e6, None)),  # numeric text, as for prices
        ({"bid_volume": 2**70}, (float(2**70), None)),
        ({"volume": 7, "exchange": "X"}, (None, None)),  # only the two names are volumes
    ],
)
def test_volumes_are_optional_and_absent_or_null_is_no_volume(fields, expected):
    result = parse_messages([tick(**fields)], NOW_MS)
    assert result.rejected == {} and volumes_of(result.block) == [expected]


def test_negative_zero_volume_is_stored_as_zero():
    block = parse_messages([tick(bid_volume=-0.0, ask_volume=-0.0)], NOW_MS).block
    assert np.signbit(block.bid_volume).tolist() == [False] and np.signbit(block.ask_volume).tolist() == [False]


@pytest.mark.parametrize("side", ["bid_volume", "ask_volume"])
@pytest.mark.parametrize(
    "value",
    [-1, -1e-9, "lots", "", True, False, {"v": 1}, [1], "nan", "inf", "-2", 10**400, "NaN-literal", "Infinity-literal"],
)
def test_an_invalid_volume_rejects_the_tick(side, value):
    if value in ("NaN-literal", "Infinity-literal"):  # JSON extensions the stdlib fallback decodes
        message = tick()[:-1] + ', "%s": %s}' % (side, value.split("-")[0])
    else:
        message = tick(**{side: value, "bid_volume" if side == "ask_volume" else "ask_volume": 1.0})
    assert only_reason(message) == "invalid_volume"


def test_a_volume_reject_keeps_the_volumes_in_its_sample_and_the_first_reason_counts():
    result = parse_messages([tick(bid_volume=-5, ask_volume=2)], NOW_MS)
    assert result.rejected == {"invalid_volume": 1}
    assert '"bid_volume": -5' in result.examples["invalid_volume"]
    assert '"ask_volume": 2' in result.examples["invalid_volume"]
    assert only_reason(tick(bid=1.3, ask=1.2, bid_volume=-1)) == "crossed"  # the quote checks come first
    assert only_reason(tick(bid_volume=-1, timestamp="noon")) == "invalid_volume"


def test_mixed_messages_keep_each_ticks_volumes_and_lose_nothing_else():
    rows = [
        {"symbol": "EURUSD", "bid": 1.1, "ask": 1.1002, "timestamp": T_MS, "bid_volume": 1e6, "ask_volume": 2e6},
        {"symbol": "GBPUSD", "bid": 1.27, "ask": 1.2702, "timestamp": T_MS + 1},
        {"symbol": "EURUSD", "bid": 1.1001, "ask": 1.1003, "timestamp": T_MS + 2, "bid_volume": "bad"},
        {"symbol": "EURUSD", "bid": 1.1, "ask": 1.1002, "timestamp": T_MS + 3, "ask_volume": 5.5, "venue": "X"},
        {"symbol": "EURUSD", "bid": 1.1, "ask": 1.1002, "timestamp": T_MS + 4, "bid_volume": None},
        {"symbol": "../x", "bid": 1.1, "ask": 1.1002, "timestamp": T_MS + 5, "bid_volume": -1},
        {"symbol": "GBPUSD", "bid": 1.27, "ask": 1.2702, "timestamp": T_MS + 6, "bid_volume": 0.5, "ask_volume": 1},
    ]
    messages = [json.dumps(rows[:3]), json.dumps(rows[3]), b"garbage", json.dumps(rows[4:])]
    result = parse_messages(messages, NOW_MS)
    assert result.received == 8 and result.rejected == {"invalid_volume": 1, "invalid_symbol": 1, "malformed_json": 1}
    block = result.block
    got = sorted(zip(block.ts_ms.tolist(), [block.symbols[c] for c in block.codes], volumes_of(block)))
    assert got == [
        (T_MS, "EURUSD", (1e6, 2e6)),
        (T_MS + 1, "GBPUSD", (None, None)),
        (T_MS + 3, "EURUSD", (None, 5.5)),
        (T_MS + 4, "EURUSD", (None, None)),
        (T_MS + 6, "GBPUSD", (0.5, 1.0)),
    ]


def test_a_block_without_any_volume_says_so_and_concat_keeps_volumes():
    plain = parse_messages([tick(), tick(bid_volume=None)], NOW_MS).block
    with_volume = parse_messages([tick(symbol="GBPUSD", ask_volume=4.0)], NOW_MS).block
    assert not plain.has_volumes() and with_volume.has_volumes()
    both = concat_blocks([plain, with_volume])
    assert both.has_volumes() and volumes_of(both) == [(None, None), (None, None), (None, 4.0)]
    assert len(both.bid_volume) == len(both.ask_volume) == len(both) == 3
