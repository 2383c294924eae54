"""Both feeds' hour bodies decoded into columns with numpy: one structured view or a cumulative sum, no tick loop."""

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
    ask_volume: np.ndarray  # float32, as Dukascopy publishes it (FX: millions of base currency)
    bid_volume: np.ndarray  # float32

    def __len__(self) -> int:
        return len(self.ts_ms)

    @classmethod
    def empty(cls) -> "HourTicks":
        return cls(np.empty(0, "int64"), np.empty(0), np.empty(0), np.empty(0, "float32"), np.empty(0, "float32"))


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
        ask_volume=rec["ask_volume"].astype("float32"),
        bid_volume=rec["bid_volume"].astype("float32"),
    )


def decode_json(body: bytes, hour_start_ms: int) -> HourTicks:
    """A JSON feed hour: times and prices are deltas, prices in units of `multiplier`.

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
        ask_volume = np.asarray(doc["askVolumes"], dtype="float32")
        bid_volume = np.asarray(doc["bidVolumes"], dtype="float32")
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
