"""The spool's on-disk frame: one group commit of ticks, self-delimiting and checksummed, and a segment scanner.

A frame is `TLK2`, the payload length (u64) and a CRC-32 over that length field and the payload. The
magic lets a reader resynchronise after damage: a frame that fails its CRC costs only its own bytes,
the next frame that checks out is read again. A block in which any tick has a volume is a `TLK3` frame:
the same layout with two more columns (bid_volume, ask_volume, NaN where a tick has none), its CRC also
over the magic (a flipped bit between `TLK2` and `TLK3` is damage, not a frame of the other kind). A
block without volumes is still a `TLK2` frame, byte for byte what earlier versions wrote. Segments of
the first format (`TLK1`, a 16-bit symbol count, CRC over the payload only) are still read.
"""

from __future__ import annotations

import dataclasses
import struct
import zlib

import numpy as np

from ticklake_dagster.sources.ingest.parse import TickBlock

MAGIC = b"TLK2"
VOLUME_MAGIC = b"TLK3"
_HEADER = struct.Struct("<4sQI")  # magic, payload length, crc32([TLK3: magic +] length field + payload)
_COUNTS = struct.Struct("<QI")  # ticks, symbols: wide enough for any block the parser can accept
LEGACY_MAGIC = b"TLK1"
_LEGACY_HEADER = struct.Struct("<4sII")  # magic, payload length, crc32(payload)
_LEGACY_COUNTS = struct.Struct("<IH")
_MAGICS = ((MAGIC, _HEADER), (VOLUME_MAGIC, _HEADER), (LEGACY_MAGIC, _LEGACY_HEADER))
_COLUMNS = (("<i4", 4), ("<i8", 8), ("<f8", 8), ("<f8", 8))
_VOLUME_COLUMNS = (("<f8", 8), ("<f8", 8))
_TICK_BYTES = sum(width for _, width in _COLUMNS)  # 28
_VOLUME_TICK_BYTES = _TICK_BYTES + sum(width for _, width in _VOLUME_COLUMNS)  # 44


def encode_frame(block: TickBlock) -> bytes:
    """One group commit as bytes: header, symbol table, then the four columns (six with volumes)."""
    volumes = block.has_volumes()
    names = b"".join(bytes([len(s)]) + s.encode() for s in block.symbols)
    columns = [
        _COUNTS.pack(len(block), len(block.symbols)),
        names,
        block.codes.astype("<i4", copy=False).tobytes(),
        block.ts_ms.astype("<i8", copy=False).tobytes(),
        block.bid.astype("<f8", copy=False).tobytes(),
        block.ask.astype("<f8", copy=False).tobytes(),
    ]
    if volumes:
        columns.append(block.bid_volume.astype("<f8", copy=False).tobytes())
        columns.append(block.ask_volume.astype("<f8", copy=False).tobytes())
    payload = b"".join(columns)
    size = struct.pack("<Q", len(payload))
    magic = VOLUME_MAGIC if volumes else MAGIC
    crc = zlib.crc32(payload, zlib.crc32(size, zlib.crc32(magic) if volumes else 0))
    return magic + size + struct.pack("<I", crc) + payload


def frame_size(block: TickBlock) -> int:
    """len(encode_frame(block)), without encoding it (the disk budget check)."""
    per_tick = _VOLUME_TICK_BYTES if block.has_volumes() else _TICK_BYTES
    return _HEADER.size + _COUNTS.size + sum(1 + len(s) for s in block.symbols) + per_tick * len(block)


def decode_payload(payload: memoryview, counts: struct.Struct = _COUNTS, volumes: bool = False) -> TickBlock:
    n, nsym = counts.unpack_from(payload, 0)
    pos = counts.size
    symbols = []
    for _ in range(nsym):
        size = payload[pos]
        symbols.append(bytes(payload[pos + 1 : pos + 1 + size]).decode("ascii"))
        pos += 1 + size
    layout = _COLUMNS + _VOLUME_COLUMNS if volumes else _COLUMNS
    if pos + (_VOLUME_TICK_BYTES if volumes else _TICK_BYTES) * n != len(payload):
        raise ValueError("frame columns do not fill the payload")
    columns = []
    for dtype, width in layout:
        columns.append(np.frombuffer(payload, dtype, n, pos).astype(dtype[1:]))
        pos += width * n
    codes = columns[0]
    if n and (codes.min() < 0 or codes.max() >= nsym):
        raise ValueError("symbol code out of range")
    if volumes:
        return TickBlock(symbols, *columns)
    return TickBlock.without_volumes(symbols, *columns)


def frame_at(data: memoryview, pos: int) -> tuple[TickBlock, int] | None:
    """The intact frame starting at `pos` and where it ends, or None."""
    magic = bytes(data[pos : pos + 4])
    volumes = magic == VOLUME_MAGIC
    if (magic == MAGIC or volumes) and pos + _HEADER.size <= len(data):
        _, size, crc = _HEADER.unpack_from(data, pos)
        start = pos + _HEADER.size
        if start + size > len(data):
            return None
        payload = data[start : start + size]
        if zlib.crc32(payload, zlib.crc32(data[pos + 4 : pos + 12], zlib.crc32(magic) if volumes else 0)) != crc:
            return None
        counts = _COUNTS
    elif magic == LEGACY_MAGIC and pos + _LEGACY_HEADER.size <= len(data):
        _, size, crc = _LEGACY_HEADER.unpack_from(data, pos)
        start = pos + _LEGACY_HEADER.size
        payload = data[start : start + size]
        if len(payload) != size or zlib.crc32(payload) != crc:
            return None
        counts = _LEGACY_COUNTS
    else:
        return None
    try:
        return decode_payload(payload, counts, volumes), start + size
    except (ValueError, IndexError, struct.error, UnicodeDecodeError):  # a CRC collision on garbage
        return None


def _is_torn(data: memoryview, pos: int) -> bool:
    """The bytes from `pos` to the end are the start of one frame cut off by a crash (a write that never finished)."""
    if not _cut_off_frame_at(data, pos):
        return False
    # A whole later frame ending exactly at the end means damage, not a cut-off write.
    raw = bytes(data[pos + 1 :])
    for magic, header in _MAGICS:
        i = raw.find(magic)
        while i >= 0:
            at = pos + 1 + i
            if at + header.size <= len(data) and at + header.size + header.unpack_from(data, at)[1] == len(data):
                return False
            i = raw.find(magic, i + 1)
    return True


def _cut_off_frame_at(data: memoryview, pos: int) -> bool:
    tail = bytes(data[pos : pos + 4])
    for magic, header in _MAGICS:
        if len(data) - pos < header.size:
            if magic.startswith(tail):
                return True
        elif tail == magic:
            return pos + header.size + header.unpack_from(data, pos)[1] > len(data)
    return False


@dataclasses.dataclass
class SegmentScan:
    """What a segment holds: its intact frames, damaged byte ranges, and a torn tail's length."""

    blocks: list[TickBlock]
    corrupt: list[tuple[int, int]]  # (offset, length) of bytes that are no intact frame
    torn: int  # trailing bytes of a frame a crash cut off: never acknowledged, not corruption

    @property
    def corrupt_bytes(self) -> int:
        return sum(n for _, n in self.corrupt)


def scan_segment(data: bytes) -> SegmentScan:
    """Every intact frame; after a damaged one, resynchronise on the next frame whose CRC checks out.

    Never raises, whatever the bytes.
    """
    view = memoryview(data)
    corrupt: list[tuple[int, int]] = []
    blocks, pos = [], 0
    while pos < len(view):
        found = frame_at(view, pos)
        if found is not None:
            blocks.append(found[0])
            pos = found[1]
            continue
        resume = _next_frame(data, view, pos + 1)
        if resume is None:
            if _is_torn(view, pos):
                return SegmentScan(blocks, corrupt, len(view) - pos)
            corrupt.append((pos, len(view) - pos))
            break
        corrupt.append((pos, resume - pos))
        pos = resume
    return SegmentScan(blocks, corrupt, 0)


def _next_frame(data: bytes, view: memoryview, start: int) -> int | None:
    """Where the next intact frame at or after `start` begins (a magic alone is not enough: its CRC must check out)."""
    while True:
        hits = [i for i in (data.find(magic, start) for magic, _ in _MAGICS) if i >= 0]
        if not hits:
            return None
        pos = min(hits)
        if frame_at(view, pos) is not None:
            return pos
        start = pos + 1
