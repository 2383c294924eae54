"""The write-ahead spool: every accepted tick is on disk (fsynced) before it counts, until its part is in the lake.

Segments `NNNNNNNNNNNN.wal` hold CRC-framed blocks of ticks (one frame per group commit). Each segment
counts the ticks of it still waiting for an upload; a sealed segment whose count reaches zero is
deleted. A frame torn by a crash was never acknowledged, so recovery stops at the first bad frame.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ticklake_dagster.errors import TicklakeError
from ticklake_dagster.ingest.parse import TickBlock

MAGIC = b"TLK2"
# magic, payload length, crc32 over the length field and the payload (a flipped length is caught too)
_HEADER = struct.Struct("<4sQI")
_COUNTS = struct.Struct("<QI")  # ticks, symbols: wide enough for any block the parser can accept
LEGACY_MAGIC = b"TLK1"  # segments written before the counts were widened: still read
_LEGACY_HEADER = struct.Struct("<4sII")  # magic, payload length, crc32(payload)
_LEGACY_COUNTS = struct.Struct("<IH")
SUFFIX = ".wal"


class SpoolLocked(TicklakeError):
    """Another live ingester owns this spool."""


def encode_frame(block: TickBlock) -> bytes:
    """One group commit as bytes: header, symbol table, then the four columns."""
    names = b"".join(bytes([len(s)]) + s.encode() for s in block.symbols)
    payload = b"".join((
        _COUNTS.pack(len(block), len(block.symbols)), names,
        block.codes.astype("<i4", copy=False).tobytes(), block.ts_ms.astype("<i8", copy=False).tobytes(),
        block.bid.astype("<f8", copy=False).tobytes(), block.ask.astype("<f8", copy=False).tobytes(),
    ))
    size = struct.pack("<Q", len(payload))
    return MAGIC + size + struct.pack("<I", zlib.crc32(payload, zlib.crc32(size))) + payload


def decode_frame(payload: bytes, counts: struct.Struct = _COUNTS) -> TickBlock:
    n, nsym = counts.unpack_from(payload, 0)
    pos = counts.size
    symbols = []
    for _ in range(nsym):
        size = payload[pos]
        symbols.append(payload[pos + 1 : pos + 1 + size].decode())
        pos += 1 + size
    codes = np.frombuffer(payload, "<i4", n, pos).astype("int32")
    pos += 4 * n
    ts = np.frombuffer(payload, "<i8", n, pos).astype("int64")
    pos += 8 * n
    bid = np.frombuffer(payload, "<f8", n, pos).astype("float64")
    pos += 8 * n
    ask = np.frombuffer(payload, "<f8", n, pos).astype("float64")
    return TickBlock(symbols, codes, ts, bid, ask)


def read_segment(path: Path) -> tuple[list[TickBlock], int]:
    """The segment's intact frames, and how many trailing bytes were torn or corrupt."""
    data = path.read_bytes()
    blocks, pos = [], 0
    while pos + _HEADER.size <= len(data):
        magic, size, crc = _HEADER.unpack_from(data, pos)
        payload = data[pos + _HEADER.size : pos + _HEADER.size + size]
        if magic != MAGIC or len(payload) != size or zlib.crc32(payload, zlib.crc32(data[pos + 4 : pos + 12])) != crc:
            break
        blocks.append(decode_frame(payload))
        pos += _HEADER.size + size
    return blocks, len(data) - pos


@dataclasses.dataclass
class _Segment:
    seq: int
    path: Path
    size: int = 0
    outstanding: int = 0
    sealed: bool = False
    opened_at: float = dataclasses.field(default_factory=time.monotonic)


class Spool:
    """A locked folder of segments; `append` runs in a worker thread, the rest on the event loop."""

    def __init__(self, directory: str | os.PathLike, segment_bytes: int = 8 << 20, segment_age_s: float = 300.0):
        self.dir = Path(directory)
        self.segment_bytes = segment_bytes
        self.segment_age_s = segment_age_s
        self._lock = threading.Lock()  # bookkeeping, never held across I/O waits
        self._write_lock = threading.Lock()  # the active segment's file
        self._segments: dict[int, _Segment] = {}
        self._active: _Segment | None = None
        self._fd = -1
        self._lock_fd = self._acquire(self.dir)
        self._recovered = sorted(int(p.stem) for p in self.dir.glob(f"*{SUFFIX}") if p.stem.isdigit())
        self._next_seq = (self._recovered[-1] + 1) if self._recovered else 1

    @staticmethod
    def _acquire(directory: Path) -> int:
        """Lock the spool for this process; the kernel drops the lock when it dies, even on kill -9."""
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(directory / "LOCK", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise TicklakeError(f"Cannot open the spool {directory}: {e.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise SpoolLocked(
                f"Spool {directory} is in use by another ingester (pid {owner}): give each ingester its own "
                "TICKLAKE_HOME or --spool-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return fd

    def recover(self) -> Iterator[tuple[int, TickBlock, int]]:
        """(segment, block, torn bytes) for every frame left by earlier runs, oldest first; they become sealed."""
        for seq in self._recovered:
            path = self._path(seq)
            blocks, torn = read_segment(path)
            seg = _Segment(seq, path, size=path.stat().st_size, sealed=True)
            seg.outstanding = sum(len(b) for b in blocks)
            with self._lock:
                self._segments[seq] = seg
            if not blocks:
                yield seq, TickBlock.empty(), torn
                self._release_locked_check(seg)
            for i, block in enumerate(blocks):
                yield seq, block, torn if i == len(blocks) - 1 else 0
        self._recovered = []

    def _release_locked_check(self, seg: _Segment) -> None:
        with self._lock:
            self._maybe_delete(seg)

    def _path(self, seq: int) -> Path:
        return self.dir / f"{seq:012d}{SUFFIX}"

    def append(self, block: TickBlock) -> int:
        """Write the block as one frame and fsync it; the returned segment now owes len(block) ticks."""
        frame = encode_frame(block)
        with self._write_lock:
            with self._lock:
                seg = self._writable()
                before = seg.size
            try:
                view = memoryview(frame)
                while view:
                    view = view[os.write(self._fd, view):]
                os.fdatasync(self._fd)
            except OSError:
                # A full or failing disk: cut the partial frame off and start a new segment next time, so
                # frames committed later are never stuck behind an unreadable one.
                with self._lock:
                    try:
                        os.truncate(seg.path, before)
                    except OSError:
                        pass
                    self._seal_locked()
                raise
            with self._lock:
                seg.outstanding += len(block)
                seg.size += len(frame)
            return seg.seq

    def _writable(self) -> _Segment:
        seg = self._active
        if seg is not None and (seg.size >= self.segment_bytes or time.monotonic() - seg.opened_at >= self.segment_age_s):
            self._seal_locked()
            seg = None
        if seg is None:
            seq = self._next_seq
            self._next_seq += 1
            seg = _Segment(seq, self._path(seq))
            self._fd = os.open(seg.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            _fsync_dir(self.dir)  # the new file's name must survive a power cut too
            self._segments[seq] = seg
            self._active = seg
        return seg

    def _seal_locked(self) -> None:
        seg, self._active = self._active, None
        if seg is None:
            return
        try:
            os.close(self._fd)
        except OSError:
            pass
        self._fd = -1
        seg.sealed = True
        self._maybe_delete(seg)

    def seal_if_idle(self) -> None:
        """Seal the active segment once it is old, so fully uploaded quiet segments get deleted."""
        if not self._write_lock.acquire(blocking=False):
            return  # a commit is writing: try again on the next tick
        try:
            with self._lock:
                if self._active is not None and time.monotonic() - self._active.opened_at >= self.segment_age_s:
                    self._seal_locked()
        finally:
            self._write_lock.release()

    def release(self, refs: dict[int, int]) -> None:
        """These ticks are in the lake: drop segments that owe nothing any more."""
        with self._lock:
            for seq, n in refs.items():
                seg = self._segments.get(seq)
                if seg is not None:
                    seg.outstanding -= n
                    self._maybe_delete(seg)

    def _maybe_delete(self, seg: _Segment) -> None:
        if seg.sealed and seg.outstanding <= 0:
            seg.path.unlink(missing_ok=True)
            self._segments.pop(seg.seq, None)

    @property
    def bytes(self) -> int:
        with self._lock:
            return sum(s.size for s in self._segments.values())

    @property
    def outstanding(self) -> int:
        """Ticks in the spool not yet in the lake."""
        with self._lock:
            return sum(s.outstanding for s in self._segments.values())

    def close(self) -> None:
        with self._write_lock, self._lock:
            self._seal_locked()
        os.close(self._lock_fd)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
