"""Both feeds' hour bodies decoded into columns with numpy: one structured view or a cumulative sum, no tick loop.

Volumes come out in units of the base asset, from both feeds: bi5 publishes them as float32 millions, the JSON
API as units. The same hour from either feed decodes to identical columns (the importer's test checks it).
"""

import dataclasses
import lzma

import numpy as np
import orjson

# 20-byte big-endian records: ms in the hour, ask, bid (integers in points), ask volume, bid volume.
BI5_DTYPE = np.dtype([("ms", ">u4"), ("ask", ">u4"), ("bid", ">u4"), ("ask_volume", ">f4"), ("bid_volume", ">f4")])


class DecodeError(ValueError):
    """A body that is not a whole hour of ticks (truncated LZMA, a partial record, malformed JSON)."""


@dataclasses.dataclass
class HourTicks:
    ts_ms: np.ndarray  # int64 epoch ms
    bid: np.ndarray  # float64
    ask: np.ndarray  # float64
    ask_volume: np.ndarray  # float64, units of the base asset
    bid_volume: np.ndarray  # float64

    def __len__(self) -> int:
        return len(self.ts_ms)

    @classmethod
    def empty(cls) -> "HourTicks":
        return cls(np.empty(0, "int64"), np.empty(0), np.empty(0), np.empty(0), np.empty(0))


_POWERS = 10.0 ** np.arange(0, 40)  # exact up to 10^22; beyond, correctly rounded


def _scaled(mantissa: np.ndarray, power: np.ndarray) -> np.ndarray:
    """mantissa * 10^power, correctly rounded (a division for negative powers: 10^-k has no exact float)."""
    magnitude = _POWERS[np.minimum(np.abs(power), len(_POWERS) - 1)]
    return np.where(power >= 0, mantissa * magnitude, mantissa / magnitude)


def millions_to_units(millions: np.ndarray) -> np.ndarray:
    """bi5's float32 volumes in millions as float64 units: the decimal each float32 stands for, times 10^6.

    Multiplying the float32 itself would carry its binary error into the units (2.35 is stored as 2.3499999046,
    so 2349999.9046 units) where the JSON API publishes 2350000. Each value is read as the shortest decimal
    that gives back the same float32 (as float32's repr finds it), and that decimal is scaled by 10^6: the
    float64 nearest to it, as parsing the JSON API's number gives.

    Fast path: below 16 million a float32's spacing is under 10^-6, so a whole number of units that reads
    back as the same float32 is the only one, and it is the decimal. The rest (fractions of a unit, larger
    volumes) try 7, 8 and 9 significant digits, the most a float32 needs.
    """
    original = np.asarray(millions, dtype="float32")
    values = original.astype("float64")
    whole = np.rint(values * 1e6)
    units = np.where((np.abs(values) < 16) & ((whole / 1e6).astype("float32") == original), whole, np.nan)
    rest = np.flatnonzero(np.isnan(units) & (values != 0))
    units[np.isnan(units)] = 0.0
    if len(rest):
        units[rest] = _shortest_decimal_units(original[rest])
    return units


def _shortest_decimal_units(original: np.ndarray) -> np.ndarray:
    values = original.astype("float64")
    exponent = np.floor(np.log10(np.abs(values))).astype("int64")
    units = np.zeros_like(values)
    todo = np.ones(len(values), dtype=bool)
    for digits in (7, 8, 9):
        decimals = digits - 1 - exponent
        mantissa = np.rint(_scaled(values, decimals))  # a whole number of 10^-decimals millions
        take = todo & ((_scaled(mantissa, -decimals).astype("float32") == original) | (digits == 9))
        units = np.where(take, _scaled(mantissa, 6 - decimals), units)
        todo &= ~take
    return units


def decode_bi5(body: bytes, hour_start_ms: int, point_value: float) -> HourTicks:
    """An LZMA ('alone') bi5 body; 0 bytes is an hour without ticks."""
    if not body:
        return HourTicks.empty()
    try:
        raw = lzma.decompress(body)
    except lzma.LZMAError as e:
        raise DecodeError(f"LZMA: {e}") from None
    if len(raw) % BI5_DTYPE.itemsize:
        raise DecodeError(f"{len(raw)} bytes is not a whole number of {BI5_DTYPE.itemsize}-byte records")
    rec = np.frombuffer(raw, BI5_DTYPE)
    # One pass per column: the ufuncs read the big-endian fields and cast as they go.
    return HourTicks(
        ts_ms=np.add(rec["ms"], hour_start_ms, dtype="int64"),
        bid=np.divide(rec["bid"], point_value, dtype="float64"),
        ask=np.divide(rec["ask"], point_value, dtype="float64"),
        ask_volume=millions_to_units(rec["ask_volume"]),
        bid_volume=millions_to_units(rec["bid_volume"]),
    )


def decode_json(body: bytes, hour_start_ms: int) -> HourTicks:
    """A JSON feed hour: times and prices are deltas, prices in units of `multiplier`, volumes in units.

    Prices are rebuilt as whole points and divided by the scale once, exactly as bi5 integers are, so
    the same hour from both feeds gives bit-identical floats.
    """
    try:
        doc = orjson.loads(body)
        times = np.asarray(doc.get("times") or [], dtype="int64")
        n = len(times)
        if n == 0:
            return HourTicks.empty()
        multiplier = float(doc["multiplier"])
        scale = round(1.0 / multiplier)
        asks = np.asarray(doc["asks"], dtype="float64")
        bids = np.asarray(doc["bids"], dtype="float64")
        ask_volume = np.asarray(doc["askVolumes"], dtype="float64")  # units already
        bid_volume = np.asarray(doc["bidVolumes"], dtype="float64")
        start = int(doc.get("timestamp", hour_start_ms))
        ask0, bid0 = float(doc["ask"]), float(doc["bid"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError, ZeroDivisionError) as e:
        raise DecodeError(f"JSON: {type(e).__name__}: {str(e)[:120]}") from None
    if not (len(asks) == len(bids) == len(ask_volume) == len(bid_volume) == n):
        raise DecodeError("JSON: times, asks, bids and volumes differ in length")
    if start != hour_start_ms:
        raise DecodeError(f"JSON: timestamp {start} is not the hour asked for ({hour_start_ms})")
    ask_points = np.rint(ask0 / multiplier + np.cumsum(asks)).astype("int64")
    bid_points = np.rint(bid0 / multiplier + np.cumsum(bids)).astype("int64")
    return HourTicks(
        ts_ms=start + np.cumsum(times),
        bid=bid_points / scale,
        ask=ask_points / scale,
        ask_volume=ask_volume,
        bid_volume=bid_volume,
    )


def concat_hours(hours: list[HourTicks]) -> HourTicks:
    if not hours:
        return HourTicks.empty()
    return HourTicks(*(np.concatenate([getattr(h, f.name) for h in hours]) for f in dataclasses.fields(HourTicks)))
