"""The write-ahead spool: every accepted tick is on disk (fsynced) before it counts, until its part is in the lake.

Segments `NNNNNNNNNNNN.wal` hold CRC-framed blocks of ticks (one frame per group commit, see frames.py).
Each segment counts the ticks of it still waiting for an upload; a sealed segment whose count reaches
zero is deleted. A frame torn by a crash was never acknowledged; a damaged frame elsewhere costs only
its own ticks, and its segment is moved to `quarantine/` instead of being deleted, for a post-mortem.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from ticklake_dagster.core.errors import TicklakeError
from ticklake_dagster.sources.ingest.frames import SegmentScan, encode_frame, scan_segment
from ticklake_dagster.sources.ingest.parse import TickBlock

SUFFIX = ".wal"
QUARANTINE = "quarantine"


class SpoolLocked(TicklakeError):
    """Another live ingester owns this spool."""


def read_segment(path: Path) -> SegmentScan:
    """The segment's intact frames, its damaged byte ranges and its torn tail."""
    return scan_segment(path.read_bytes())


@dataclasses.dataclass
class _Segment:
    seq: int
    path: Path
    size: int = 0
    outstanding: int = 0
    sealed: bool = False
    damaged: bool = False  # kept in quarantine/ once its intact ticks are in the lake
    opened_at: float = dataclasses.field(default_factory=time.monotonic)


class Spool:
    """A locked folder of segments; `append` runs in a worker thread, the rest on the event loop."""

    _write = staticmethod(os.write)  # a seam: tests fill the disk of one spool, not the process's os.write

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

    def recover(self) -> Iterator[tuple[int, SegmentScan]]:
        """(segment, what it holds) for every segment left by earlier runs, oldest first; they become sealed.

        A damaged segment stays where it is until its intact ticks are uploaded (a crash before that replays
        them again), then moves to quarantine/.
        """
        for seq in self._recovered:
            path = self._path(seq)
            scan = read_segment(path)
            seg = _Segment(seq, path, size=path.stat().st_size, sealed=True, damaged=bool(scan.corrupt))
            seg.outstanding = sum(len(b) for b in scan.blocks)
            with self._lock:
                self._segments[seq] = seg
            yield seq, scan
            with self._lock:
                self._maybe_delete(seg)
        self._recovered = []

    @property
    def quarantine_dir(self) -> Path:
        return self.dir / QUARANTINE

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
                    view = view[self._write(self._fd, view) :]
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
        if seg is not None and (
            seg.size >= self.segment_bytes or time.monotonic() - seg.opened_at >= self.segment_age_s
        ):
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
            if seg.damaged:
                self.quarantine_dir.mkdir(exist_ok=True)
                os.replace(seg.path, self.quarantine_dir / seg.path.name)
                _fsync_dir(self.dir)
            else:
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
