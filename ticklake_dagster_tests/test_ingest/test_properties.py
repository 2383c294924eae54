"""Properties of the tick parser and the spool frames, over generated input (Hypothesis, derandomized).

The parser: never raises; every tick it sees is accepted or counted under a reason with a sample; what
it accepts is valid and exactly what was sent, volumes included. The frames: any block, with or without
volumes, round-trips; one damaged byte anywhere in a segment costs at most the frame it is in, and a
cut-off tail only the unfinished frame.
"""

import datetime as dt
import json

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ticklake_dagster.core.days import DAY_MS
from ticklake_dagster.core.symbols import is_valid_symbol
from ticklake_dagster.sources.ingest.frames import encode_frame, scan_segment
from ticklake_dagster.sources.ingest.parse import MIN_TS_MS, REJECT_REASONS, TickBlock, parse_messages

NOW_MS = int(dt.datetime(2026, 1, 15, tzinfo=dt.timezone.utc).timestamp() * 1000)
PROPERTY = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_SYMBOL_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
symbols = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from(_SYMBOL_CHARS),
    st.text(_SYMBOL_CHARS + "._-", max_size=31),
).filter(lambda s: ".." not in s)
prices = st.floats(min_value=1e-6, max_value=1e9, allow_nan=False, allow_infinity=False)
stamps_ms = st.integers(min_value=MIN_TS_MS, max_value=NOW_MS + DAY_MS)
volumes = st.floats(min_value=0, max_value=1e15, allow_nan=False, allow_infinity=False) | st.integers(0, 10**15)
VOLUMES = ("bid_volume", "ask_volume")


@st.composite
def valid_ticks(draw) -> dict:
    bid = draw(prices)
    ask = draw(st.floats(min_value=bid, max_value=max(bid, 2e9), allow_nan=False, allow_infinity=False))
    tick = {"symbol": draw(symbols), "bid": bid, "ask": ask, "timestamp": draw(stamps_ms)}
    for name in VOLUMES:  # each optional: absent, null or a volume
        choice = draw(st.sampled_from(["absent", "null", "volume"]))
        if choice != "absent":
            tick[name] = draw(volumes) if choice == "volume" else None
    return tick


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def bent_ticks(draw) -> dict:
    """A tick with any of its fields replaced, dropped or joined by arbitrary JSON."""
    tick = draw(valid_ticks())
    for field in draw(st.lists(st.sampled_from(["symbol", "bid", "ask", "timestamp", *VOLUMES]), max_size=3)):
        if draw(st.booleans()):
            tick.pop(field, None)
        else:
            tick[field] = draw(json_values | st.sampled_from(["NaN", "1e999", "-1", "2025-11-13T09:30:00Z", "../x"]))
    return tick


def encoded(value) -> str:
    return json.dumps(value, allow_nan=True)


messages = st.one_of(
    valid_ticks().map(encoded),
    bent_ticks().map(encoded),
    st.lists(st.one_of(valid_ticks(), bent_ticks(), json_values), max_size=6).map(encoded),
    json_values.map(encoded),
    st.binary(max_size=60),
    st.text(max_size=60),
)


@PROPERTY
@given(st.lists(messages, max_size=12))
def test_the_parser_accounts_for_every_tick_and_accepts_only_valid_ones(batch):
    result = parse_messages(batch, NOW_MS)
    block = result.block
    assert result.received == len(block) + sum(result.rejected.values())
    assert set(result.rejected) <= set(REJECT_REASONS) and set(result.rejected) <= set(result.examples)
    assert all(isinstance(s, str) and len(s) <= 120 for s in result.examples.values())
    assert all(is_valid_symbol(s) for s in block.symbols)
    assert len(block.codes) == len(block.bid) == len(block.ask) == len(block.bid_volume) == len(block.ask_volume)
    assert len(block.codes) == len(block)
    if len(block):
        assert block.codes.min() >= 0 and block.codes.max() < len(block.symbols)
        assert np.isfinite(block.bid).all() and np.isfinite(block.ask).all()
        for volume in (block.bid_volume, block.ask_volume):  # none (NaN), or a finite volume >= 0
            assert (np.isnan(volume) | (np.isfinite(volume) & (volume >= 0))).all()
        assert (block.bid > 0).all() and (block.bid <= block.ask).all()
        assert (block.ts_ms >= MIN_TS_MS).all() and (block.ts_ms <= NOW_MS + DAY_MS).all()


@PROPERTY
@given(st.lists(valid_ticks(), min_size=1, max_size=20), st.booleans())
def test_valid_ticks_are_accepted_exactly_as_sent(ticks, as_array):
    sent = [encoded(ticks)] if as_array else [encoded(t) for t in ticks]
    result = parse_messages(sent, NOW_MS)
    assert result.rejected == {} and result.received == len(ticks)
    block = result.block
    got = sorted(
        zip(
            [block.symbols[c] for c in block.codes],
            block.ts_ms.tolist(),
            block.bid.tolist(),
            block.ask.tolist(),
            *([None if np.isnan(v) else v for v in column.tolist()] for column in (block.bid_volume, block.ask_volume)),
        ),
        key=_nones_first,
    )
    expected = [
        (t["symbol"], t["timestamp"], t["bid"], t["ask"], *(None if t.get(n) is None else float(t[n]) for n in VOLUMES))
        for t in ticks
    ]
    assert got == sorted(expected, key=_nones_first)


def _nones_first(row: tuple) -> tuple:
    return tuple((v is not None, v) for v in row)


@st.composite
def blocks(draw, max_ticks: int = 20) -> TickBlock:
    names = draw(st.lists(symbols, min_size=1, max_size=5, unique=True))
    n = draw(st.integers(0, max_ticks))
    codes = draw(arrays("int32", n, elements=st.integers(0, len(names) - 1)))
    columns = (draw(arrays("int64", n)), draw(arrays("float64", n)), draw(arrays("float64", n)))
    if not draw(st.booleans()):
        return TickBlock.without_volumes(names, codes, *columns)
    return TickBlock(names, codes, *columns, draw(arrays("float64", n)), draw(arrays("float64", n)))


def same(a: TickBlock, b: TickBlock) -> bool:
    return (
        a.symbols == b.symbols
        and a.codes.tolist() == b.codes.tolist()
        and a.ts_ms.tolist() == b.ts_ms.tolist()
        and _bits(a.bid) == _bits(b.bid)
        and _bits(a.ask) == _bits(b.ask)
        and _bits(_no_volume_is_nan(a.bid_volume)) == _bits(_no_volume_is_nan(b.bid_volume))
        and _bits(_no_volume_is_nan(a.ask_volume)) == _bits(_no_volume_is_nan(b.ask_volume))
    )


def _bits(x: np.ndarray) -> list:
    return x.view("uint64").tolist()  # NaN payloads and -0.0 too


def _no_volume_is_nan(x: np.ndarray) -> np.ndarray:
    """Every NaN volume means none, whatever its payload (a block without any is framed without volumes)."""
    return np.where(np.isnan(x), np.nan, x)


@PROPERTY
@given(st.lists(blocks(), min_size=1, max_size=4))
def test_any_block_round_trips_through_a_segment(frames):
    scan = scan_segment(b"".join(encode_frame(f) for f in frames))
    assert scan.corrupt == [] and scan.torn == 0
    assert len(scan.blocks) == len(frames) and all(same(a, b) for a, b in zip(scan.blocks, frames))


@PROPERTY
@given(st.lists(blocks(max_ticks=12), min_size=1, max_size=4), st.data())
def test_one_damaged_byte_costs_at_most_the_frame_it_is_in(frames, data):
    encoded_frames = [encode_frame(f) for f in frames]
    segment = bytearray(b"".join(encoded_frames))
    at = data.draw(st.integers(0, len(segment) - 1), label="offset")
    segment[at] ^= data.draw(st.integers(1, 255), label="xor")
    hit = next(i for i, end in enumerate(np.cumsum([len(e) for e in encoded_frames])) if at < end)
    scan = scan_segment(bytes(segment))
    kept = [f for i, f in enumerate(frames) if i != hit]  # every byte of a frame is checked: the hit one is lost
    assert len(scan.blocks) == len(kept) and all(same(a, b) for a, b in zip(scan.blocks, kept))
    assert scan.corrupt_bytes + scan.torn == len(encoded_frames[hit])


@PROPERTY
@given(st.lists(blocks(max_ticks=12), min_size=1, max_size=4), st.data())
def test_a_cut_off_tail_costs_only_the_unfinished_frame_and_is_not_corruption(frames, data):
    encoded_frames = [encode_frame(f) for f in frames]
    whole = b"".join(encoded_frames)
    cut = data.draw(st.integers(0, len(whole)), label="cut")
    scan = scan_segment(whole[:cut])
    complete = sum(1 for end in np.cumsum([len(e) for e in encoded_frames]) if end <= cut)
    assert len(scan.blocks) == complete and all(same(a, b) for a, b in zip(scan.blocks, frames))
    assert scan.corrupt == [] and scan.torn == cut - sum(len(e) for e in encoded_frames[:complete])
