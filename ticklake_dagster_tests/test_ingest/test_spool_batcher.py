"""The spool's durability bookkeeping and the batcher's cut rules, as plain objects."""

import datetime as dt

import numpy as np
import pytest

from ticklake_dagster.core.days import DAY_MS, day_start_ms
from ticklake_dagster.lake.keys import parse_raw_part_key
from ticklake_dagster.sources.ingest.batcher import TickBatcher
from ticklake_dagster.sources.ingest.parse import TickBlock
from ticklake_dagster.sources.ingest.spool import Spool, SpoolLocked

DAY = dt.date(2025, 11, 13)


def block(symbols: list[str], codes: list[int], start_ms: int) -> TickBlock:
    n = len(codes)
    bid = 1.0 + np.arange(n) / 1e4
    return TickBlock.without_volumes(
        symbols, np.array(codes, "int32"), start_ms + np.arange(n, dtype="int64"), bid, bid + 1e-4
    )


def rows(b: TickBlock) -> list[tuple]:
    return sorted(zip([b.symbols[c] for c in b.codes], b.ts_ms.tolist(), b.bid.tolist(), b.ask.tolist()))


def test_spool_round_trip_torn_tail_and_deletion_after_release(tmp_path):
    spool = Spool(tmp_path / "s")
    a = block(["EURUSD", "GBPUSD"], [0, 1, 0], day_start_ms(DAY))
    b = block(["XAUUSD"], [0, 0], day_start_ms(DAY) + 10)
    seq = spool.append(a)
    assert spool.append(b) == seq and spool.outstanding == 5
    spool.close()
    path = tmp_path / "s" / f"{seq:012d}.wal"
    with open(path, "ab") as f:
        f.write(b"TLK2\x40\x00\x00\x00\x00\x00\x00\x00garbage")  # a commit torn by kill -9: never acknowledged
    again = Spool(tmp_path / "s")
    [(got_seq, scan)] = list(again.recover())
    assert got_seq == seq and [rows(b) for b in scan.blocks] == [rows(a), rows(b)]
    assert scan.torn == 19 and scan.corrupt == []
    new_seq = again.append(block(["EURUSD"], [0], day_start_ms(DAY) + 99))
    assert new_seq > seq  # recovered segments are never appended to
    again.release({seq: 3})
    assert path.exists()
    again.release({seq: 2})
    assert not path.exists() and again.outstanding == 1


def test_sealed_segment_is_deleted_once_uploaded_and_a_full_one_rotates(tmp_path):
    spool = Spool(tmp_path / "s", segment_bytes=200, segment_age_s=3600)
    first = spool.append(block(["EURUSD"], [0] * 10, day_start_ms(DAY)))  # > 200 bytes: the next append rotates
    second = spool.append(block(["EURUSD"], [0] * 2, day_start_ms(DAY)))
    assert second == first + 1
    spool.release({first: 10})
    assert sorted(p.name for p in (tmp_path / "s").glob("*.wal")) == [f"{second:012d}.wal"]
    spool.release({second: 2})  # still the active segment: kept until sealed
    assert spool.bytes > 0
    spool.close()
    assert list((tmp_path / "s").glob("*.wal")) == []


def test_second_owner_of_a_spool_is_refused(tmp_path):
    first = Spool(tmp_path / "s")
    with pytest.raises(SpoolLocked, match=r"in use by another ingester \(pid \d+\)"):
        Spool(tmp_path / "s")
    first.close()
    Spool(tmp_path / "s").close()


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_batches_cut_at_batch_size_per_symbol_and_keep_the_rest():
    batcher = TickBatcher(batch_size=4, max_age_s=300, clock=Clock())
    start = day_start_ms(DAY)
    parts = batcher.add(block(["EURUSD", "GBPUSD"], [0, 1, 0, 0, 1, 0, 0, 0, 0, 0], start), segment=7)
    assert [(p.symbol, len(p)) for p in parts] == [("EURUSD", 4), ("EURUSD", 4)]
    assert all(p.refs == {7: 4} for p in parts)
    assert batcher.pending_ticks == 2  # GBPUSD's two
    more = batcher.add(block(["GBPUSD"], [0, 0, 0], start + 100), segment=8)
    assert [(p.symbol, len(p), p.refs) for p in more] == [("GBPUSD", 4, {7: 2, 8: 2})]
    rest = batcher.flush_all()
    assert [(p.symbol, len(p), p.refs) for p in rest] == [("GBPUSD", 1, {8: 1})]
    keys = [p.key for p in parts + more + rest]
    assert len(set(keys)) == len(keys)
    for p in parts + more + rest:
        assert parse_raw_part_key(p.key) == (p.symbol, DAY)
        assert p.key.split("/part-")[1].startswith(f"{int(p.ts_ms.min()):013d}-")


def test_batches_flush_when_old_by_arrival_time():
    clock = Clock()
    batcher = TickBatcher(batch_size=1000, max_age_s=300, clock=clock)
    batcher.add(block(["EURUSD"], [0, 0], day_start_ms(DAY)), 1)
    clock.now = 200
    batcher.add(block(["GBPUSD"], [0], day_start_ms(DAY)), 1)
    assert batcher.due() == [] and batcher.next_due_in() == 100
    clock.now = 300
    assert [p.symbol for p in batcher.due()] == ["EURUSD"]
    clock.now = 500
    assert [p.symbol for p in batcher.due()] == ["GBPUSD"] and batcher.next_due_in() is None


def test_a_batch_across_utc_midnight_becomes_one_sorted_part_per_day():
    batcher = TickBatcher(batch_size=6, max_age_s=300, clock=Clock())
    midnight = day_start_ms(DAY) + DAY_MS
    stamps = [midnight + 5, midnight - 1, midnight - 3000, midnight, midnight + 1, midnight - 2]
    b = TickBlock.without_volumes(
        ["EURUSD"], np.zeros(6, "int32"), np.array(stamps, "int64"), np.arange(1, 7.0), np.arange(2, 8.0)
    )
    parts = batcher.add(b, 3)
    assert [(p.day, p.ts_ms.tolist()) for p in parts] == [
        (DAY, [midnight - 3000, midnight - 2, midnight - 1]),
        (DAY + dt.timedelta(days=1), [midnight, midnight + 1, midnight + 5]),
    ]
    assert [p.bid.tolist() for p in parts] == [[3.0, 6.0, 2.0], [4.0, 5.0, 1.0]]  # quotes travel with their ts
    assert [parse_raw_part_key(p.key)[1] for p in parts] == [p.day for p in parts]
    assert sum(sum(p.refs.values()) for p in parts) == 6


def test_volumes_travel_with_their_ticks_through_batch_cuts_sorting_and_midnight():
    batcher = TickBatcher(batch_size=4, max_age_s=300, clock=Clock())
    midnight = day_start_ms(DAY) + DAY_MS
    stamps = np.array([midnight + 5, midnight - 1, midnight - 3000, midnight, midnight + 1, midnight - 2], "int64")

    def volumes_of(ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # a function of ts, NaN (none) for some
        offset = (ts - midnight).astype("float64")
        return np.where(ts % 2 == 0, np.nan, offset + 0.5), np.where(ts % 3 == 0, np.nan, offset * 10)

    b = TickBlock(["EURUSD"], np.zeros(6, "int32"), stamps, np.arange(1, 7.0), np.arange(2, 8.0), *volumes_of(stamps))
    parts = batcher.add(b, 3) + batcher.flush_all()  # a cut at 4 ticks, then the 2 left over
    assert sorted(t for p in parts for t in p.ts_ms.tolist()) == sorted(stamps.tolist()) and len(parts) == 4
    for part in parts:
        expected_bid, expected_ask = volumes_of(part.ts_ms)
        np.testing.assert_array_equal(part.bid_volume, expected_bid)
        np.testing.assert_array_equal(part.ask_volume, expected_ask)


def test_a_failed_write_is_cut_off_and_later_commits_stay_readable(tmp_path):
    import errno
    import os

    spool = Spool(tmp_path / "s")
    first = spool.append(block(["EURUSD"], [0, 0], day_start_ms(DAY)))

    def half_then_enospc(fd, data):  # the disk fills up halfway through a frame
        del spool._write
        os.write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    spool._write = half_then_enospc
    with pytest.raises(OSError):
        spool.append(block(["EURUSD"], [0, 0, 0], day_start_ms(DAY) + 10))
    later = spool.append(block(["GBPUSD"], [0], day_start_ms(DAY) + 20))
    assert later == first + 1 and spool.outstanding == 3
    spool.close()
    again = Spool(tmp_path / "s")
    scans = list(again.recover())
    assert [(seq, [len(b) for b in scan.blocks], scan.torn, scan.corrupt) for seq, scan in scans] == [
        (first, [2], 0, []),
        (later, [1], 0, []),
    ]


def test_a_frame_holds_more_symbols_than_sixteen_bits_count(tmp_path):
    n = 70_000
    wide = TickBlock.without_volumes(
        [f"S{i:05d}" for i in range(n)],
        np.arange(n, dtype="int32"),
        day_start_ms(DAY) + np.arange(n, dtype="int64"),
        np.full(n, 1.0),
        np.full(n, 1.1),
    )
    spool = Spool(tmp_path / "s")
    seq = spool.append(wide)
    spool.close()
    again = Spool(tmp_path / "s")
    [(got, scan)] = list(again.recover())
    assert got == seq and [rows(b) for b in scan.blocks] == [rows(wide)] and scan.torn == 0
    again.close()
