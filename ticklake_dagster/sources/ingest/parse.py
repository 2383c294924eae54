"""Raw feed messages to columnar ticks: JSON ticks in, (symbol codes, ts_ms, bid, ask, volumes) arrays out.

One Python pass pulls the four fields out of each decoded message (and the optional `bid_volume` and
`ask_volume`, looked up only in a tick that has more than four keys); every check after that is vectorised,
and each rejected tick is counted once, under the first reason it fails (REJECT_REASONS order).
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import json
import math
from collections import Counter
from collections.abc import Iterable

import numpy as np
import orjson

from ticklake_dagster.core.days import DAY_MS
from ticklake_dagster.core.symbols import is_valid_symbol

REJECT_REASONS = (
    "malformed_json",  # not JSON at all
    "not_a_tick",  # JSON, but not an object (or array of objects)
    "too_many_symbols",  # an array naming more distinct symbols than max_symbols: all its ticks refused
    "missing_field",  # symbol, bid, ask or timestamp absent or null
    "invalid_symbol",  # breaks the symbol rule (e.g. "../x", "eurusd")
    "invalid_price",  # bid/ask not a number (a string that is not numeric, a bool, an object)
    "non_finite",  # NaN or +-inf
    "non_positive",  # bid or ask <= 0
    "crossed",  # bid > ask
    "invalid_volume",  # bid_volume/ask_volume present but not a number (or a bool), negative, NaN or +-inf
    "invalid_timestamp",  # neither unix s/ms nor ISO-8601
    "too_old",  # before 1990-01-01 UTC
    "in_future",  # more than a day ahead of the ingester's clock
    "spool_full",  # valid, but refused: the spool reached its disk budget
    "spool_error",  # valid, but refused: writing the spool failed (disk error)
)
MAX_SYMBOLS_PER_MESSAGE = 10_000  # every symbol is a lake folder and a Dagster partition: a sanity cap
MIN_TS_MS = 631_152_000_000  # 1990-01-01T00:00:00Z
MS_THRESHOLD = 1e11  # |timestamp| >= 1e11 is milliseconds (1973 in ms, year 5138 in seconds)
_NUMBER_TYPES = frozenset({int, float})
_NONE = type(None)
_VOLUME_TYPES = frozenset({int, float, _NONE})
_FIELDS = ("symbol", "bid", "ask", "timestamp")
VOLUME_FIELDS = ("bid_volume", "ask_volume")  # optional, in base-asset units; absent or null: no volume


@dataclasses.dataclass
class TickBlock:
    """Accepted ticks, columnar: `codes` index into `symbols`."""

    symbols: list[str]
    codes: np.ndarray  # int32
    ts_ms: np.ndarray  # int64
    bid: np.ndarray  # float64
    ask: np.ndarray  # float64
    bid_volume: np.ndarray  # float64, base-asset units; NaN where the tick has none
    ask_volume: np.ndarray  # float64, base-asset units; NaN where the tick has none

    def __len__(self) -> int:
        return len(self.ts_ms)

    @classmethod
    def empty(cls) -> TickBlock:
        return cls.without_volumes([], np.empty(0, "int32"), np.empty(0, "int64"), np.empty(0), np.empty(0))

    @classmethod
    def without_volumes(
        cls, symbols: list[str], codes: np.ndarray, ts_ms: np.ndarray, bid: np.ndarray, ask: np.ndarray
    ) -> TickBlock:
        """Ticks from a source that has no volumes (both volume columns NaN)."""
        return cls(symbols, codes, ts_ms, bid, ask, no_volumes(len(ts_ms)), no_volumes(len(ts_ms)))

    def has_volumes(self) -> bool:
        """Whether any tick of the block has a volume."""
        return not (np.isnan(self.bid_volume).all() and np.isnan(self.ask_volume).all())

    def per_symbol(self) -> Iterable[tuple[str, np.ndarray]]:
        """(symbol, row indices in arrival order) for each symbol present."""
        if not len(self):
            return
        if len(self.symbols) == 1:
            yield self.symbols[0], np.arange(len(self))
            return
        order = np.argsort(self.codes, kind="stable")
        bounds = np.flatnonzero(np.diff(self.codes[order])) + 1
        for rows in np.split(order, bounds):
            if len(rows):
                yield self.symbols[int(self.codes[rows[0]])], rows


def no_volumes(n: int) -> np.ndarray:
    return np.full(n, np.nan)


@dataclasses.dataclass
class ParseResult:
    block: TickBlock
    received: int
    rejected: Counter
    examples: dict  # reason -> a short sample of one offending input, for the log


def concat_blocks(blocks: list[TickBlock]) -> TickBlock:
    """One block from several, symbol codes remapped onto one symbol list."""
    blocks = [b for b in blocks if len(b)]
    if len(blocks) <= 1:
        return blocks[0] if blocks else TickBlock.empty()
    index: dict[str, int] = {}
    codes = []
    for b in blocks:
        remap = np.array([index.setdefault(s, len(index)) for s in b.symbols], dtype="int32")
        codes.append(remap[b.codes])
    symbols = list(index)
    return TickBlock(
        symbols,
        np.concatenate(codes),
        np.concatenate([b.ts_ms for b in blocks]),
        np.concatenate([b.bid for b in blocks]),
        np.concatenate([b.ask for b in blocks]),
        np.concatenate([b.bid_volume for b in blocks]),
        np.concatenate([b.ask_volume for b in blocks]),
    )


def _loads(message: bytes | str):
    try:
        return orjson.loads(message)
    except orjson.JSONDecodeError:
        # The stdlib parses NaN/Infinity/1e999, so such ticks are rejected as non_finite, not malformed.
        return json.loads(message)


def parse_messages(
    messages: Iterable[bytes | str],
    now_ms: int,
    max_symbols: int = MAX_SYMBOLS_PER_MESSAGE,
) -> ParseResult:
    """Decode JSON ticks (`{"symbol","bid","ask","timestamp"}`, optionally `"bid_volume"` and `"ask_volume"`,
    or an array of them) and validate them.

    The one entry point for raw feed input (the ingester and the fuzz target call it): it never raises
    on any input; every tick is either in the block or counted under a reason.
    """
    rejected: Counter = Counter()
    examples: dict = {}
    syms: list = []
    bids: list = []
    asks: list = []
    stamps: list = []
    volumes = _Volumes()
    volume_rows, volume_items = volumes.rows, volumes.items

    def reject(reason: str, sample) -> None:
        rejected[reason] += 1
        if reason not in examples:
            examples[reason] = _sample(sample)

    received = 0
    for message in messages:
        try:
            obj = _loads(message)
        except (ValueError, TypeError, RecursionError):
            if isinstance(message, (bytes, str)) and (not message or message.isspace()):
                continue  # a blank line between JSON lines is not a tick
            received += 1
            reject("malformed_json", message)
            continue
        items = obj if type(obj) is list else (obj,)
        if len(items) > max_symbols and _distinct_symbols(items) > max_symbols:
            received += len(items)
            rejected["too_many_symbols"] += len(items)
            examples.setdefault("too_many_symbols", _sample(message))
            continue
        for item in items:
            received += 1
            if type(item) is not dict:
                reject("not_a_tick", item)
                continue
            try:
                symbol, bid, ask, stamp = item["symbol"], item["bid"], item["ask"], item["timestamp"]
            except KeyError:
                reject("missing_field", item)
                continue
            if symbol is None or bid is None or ask is None or stamp is None:
                reject("missing_field", item)
                continue
            if len(item) > 4:  # maybe volumes (read after the loop); a tick without them costs only this check
                volume_rows.append(len(syms))
                volume_items.append(item)
            syms.append(symbol)
            bids.append(bid)
            asks.append(ask)
            stamps.append(stamp)
    block, more = validate_columns(syms, bids, asks, stamps, now_ms, volumes)
    for reason, (n, sample) in more.items():
        rejected[reason] += n
        examples.setdefault(reason, sample)
    return ParseResult(block, received, rejected, examples)


def _distinct_symbols(items: list | tuple) -> int:
    return len({s for item in items if type(item) is dict and type(s := item.get("symbol")) is str})


@dataclasses.dataclass
class _Volumes:
    """The ticks that may carry volumes (more keys than the four fields), sparse: `rows` index the extracted ticks."""

    rows: list = dataclasses.field(default_factory=list)
    items: list = dataclasses.field(default_factory=list)  # those ticks' decoded objects

    def columns(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(bid_volume, ask_volume) of all n ticks, NaN where absent (or null), and a mask of invalid ones."""
        bid_volume, ask_volume, bad = no_volumes(n), no_volumes(n), np.zeros(n, dtype=bool)
        if self.rows:
            rows = np.array(self.rows, dtype="intp")
            for out, name in zip((bid_volume, ask_volume), VOLUME_FIELDS):
                volume, invalid = _to_volume([item.get(name) for item in self.items])
                out[rows] = volume
                bad[rows] |= invalid
        return bid_volume, ask_volume, bad

    def sample(self, i: int) -> dict:
        """Tick i's volumes as sent (for a reject's sample), {} if it had none."""
        j = bisect.bisect_left(self.rows, i)
        if j == len(self.rows) or self.rows[j] != i:
            return {}
        return {name: self.items[j][name] for name in VOLUME_FIELDS if self.items[j].get(name) is not None}


def validate_columns(
    syms: list, bids: list, asks: list, stamps: list, now_ms: int, volumes: _Volumes | None = None
) -> tuple[TickBlock, dict]:
    """Vectorised checks over extracted fields: -> (accepted block, {reason: (count, sample)})."""
    n = len(syms)
    if n == 0:
        return TickBlock.empty(), {}
    volumes = volumes or _Volumes()
    codes, symbols = _symbol_codes(syms)
    bid, bid_bad = _to_float(bids)
    ask, ask_bad = _to_float(asks)
    bid_volume, ask_volume, volume_bad = volumes.columns(n)
    ts_ms, ts_bad = _to_ms(stamps)
    reasons: dict = {}
    bad = np.zeros(n, dtype=bool)

    def take(reason: str, mask: np.ndarray) -> None:
        nonlocal bad
        mask = mask & ~bad
        count = int(mask.sum())
        if count:
            i = int(np.argmax(mask))
            sent = {"symbol": syms[i], "bid": bids[i], "ask": asks[i], "timestamp": stamps[i], **volumes.sample(i)}
            reasons[reason] = (count, _sample(sent))
            bad |= mask

    take("invalid_symbol", codes < 0)
    take("invalid_price", bid_bad | ask_bad)
    with np.errstate(invalid="ignore"):
        take("non_finite", ~(np.isfinite(bid) & np.isfinite(ask)))
        take("non_positive", (bid <= 0) | (ask <= 0))
        take("crossed", bid > ask)
    take("invalid_volume", volume_bad)
    take("invalid_timestamp", ts_bad)
    take("too_old", ts_ms < MIN_TS_MS)
    take("in_future", ts_ms > now_ms + DAY_MS)
    if bad.any():
        keep = ~bad
        codes, ts_ms, bid, ask = codes[keep], ts_ms[keep], bid[keep], ask[keep]
        bid_volume, ask_volume = bid_volume[keep], ask_volume[keep]
    return TickBlock(symbols, codes, ts_ms, bid, ask, bid_volume, ask_volume), reasons


def _symbol_codes(syms: list) -> tuple[np.ndarray, list[str]]:
    """Each tick's index into the list of distinct valid symbols; -1 where the symbol is invalid."""
    index: dict = {}
    symbols: list[str] = []
    codes = np.empty(len(syms), dtype="int32")
    for i, s in enumerate(syms):
        try:
            code = index[s]
        except KeyError:
            code = -1
            if is_valid_symbol(s):
                code = len(symbols)
                symbols.append(s)
            index[s] = code
        except TypeError:  # unhashable (a list or an object)
            code = -1
        codes[i] = code
    return codes, symbols


def _to_float(values: list) -> tuple[np.ndarray, np.ndarray]:
    """float64 prices and a mask of values that are not numbers (numeric strings are accepted)."""
    if set(map(type, values)) <= _NUMBER_TYPES:
        try:
            return np.array(values, dtype="float64"), np.zeros(len(values), dtype=bool)
        except OverflowError:  # a huge JSON integer
            pass
    out = np.empty(len(values), dtype="float64")
    bad = np.zeros(len(values), dtype=bool)
    for i, v in enumerate(values):
        out[i], bad[i] = _one_float(v)
    return out, bad


def _to_volume(values: list) -> tuple[np.ndarray, np.ndarray]:
    """float64 volumes (NaN where absent: None) and a mask of invalid ones.

    Invalid: not a number (a bool, an object, non-numeric text; numeric text is accepted, as for prices),
    negative, NaN or +-inf. -0.0 is stored as 0.0.
    """
    n = len(values)
    kinds = set(map(type, values))
    volume = None
    if kinds <= _VOLUME_TYPES:
        try:
            volume = np.array(values, dtype="float64")  # None -> NaN
        except OverflowError:  # a huge JSON integer
            pass
    if volume is not None:
        bad = np.zeros(n, dtype=bool)
        absent = np.isnan(volume) if _NONE in kinds else np.zeros(n, dtype=bool)
        if _NONE in kinds and float in kinds and absent.any():  # a NaN may have been sent, not only None
            absent = np.fromiter((v is None for v in values), bool, n)
    else:
        volume, bad, absent = np.empty(n, dtype="float64"), np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        for i, v in enumerate(values):
            if v is None:
                volume[i], absent[i] = math.nan, True
            else:
                volume[i], bad[i] = _one_float(v)
    with np.errstate(invalid="ignore"):
        bad |= ~absent & ~((volume >= 0) & (volume < math.inf))
    return volume + 0.0, bad


def _one_float(v) -> tuple[float, bool]:
    if type(v) in (int, float):
        try:
            return float(v), False
        except OverflowError:
            return math.inf, False
    if type(v) is str:
        try:
            return float(v), False
        except ValueError:
            pass
    return math.nan, True


def _to_ms(values: list) -> tuple[np.ndarray, np.ndarray]:
    """Epoch milliseconds from unix seconds or ms (told apart by magnitude) or ISO-8601 strings."""
    bad = np.zeros(len(values), dtype=bool)
    ms = None
    if set(map(type, values)) <= _NUMBER_TYPES:
        try:
            ms = _scale(np.array(values, dtype="float64"))
        except OverflowError:  # a huge JSON integer
            pass
    if ms is None:
        ms = np.empty(len(values), dtype="float64")
        for i, v in enumerate(values):
            ms[i], bad[i] = _one_stamp(v)
    with np.errstate(invalid="ignore"):
        bad |= ~np.isfinite(ms) | (np.abs(ms) > 9e15)  # beyond year 285,000: no int64 ms, no datetime
        ms = np.where(bad, 0.0, ms)
    return np.rint(ms).astype("int64"), bad


def _scale(raw: np.ndarray | np.float64) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):
        return np.where(np.abs(raw) >= MS_THRESHOLD, raw, raw * 1000.0)


def _one_stamp(v) -> tuple[float, bool]:
    """One timestamp in epoch ms, and whether it is unusable."""
    kind = type(v)
    if kind is int or kind is float or kind is str:
        try:
            return float(_scale(np.float64(float(v)))), False
        except OverflowError:
            return math.nan, True
        except ValueError:
            if kind is not str:
                return math.nan, True
        try:
            when = dt.datetime.fromisoformat(v)
        except ValueError:
            return math.nan, True
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)  # a feed without an offset means UTC
        # Exact integer ms (float seconds would round 1 ms off some ISO fractions).
        delta = when - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
        return float((delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000), False
    return math.nan, True


def _sample(value, limit: int = 120) -> str:
    """A short, printable excerpt of bad input for the log (never the whole message)."""
    if isinstance(value, bytes):
        text = value[:limit].decode("utf-8", "replace")
    elif isinstance(value, str):
        text = value[:limit]
    else:
        try:
            text = json.dumps(value, default=str)[:limit]
        except (TypeError, ValueError):
            text = repr(value)[:limit]
    return text.encode("unicode_escape").decode("ascii")[:limit]
