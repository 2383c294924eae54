"""A damaged spool: corruption costs only the frames it hits, a torn tail is told apart, nothing is deleted."""

import struct
import zlib

import numpy as np

from ticklake_dagster.core.days import day_start_ms
from ticklake_dagster.sources.ingest.parse import TickBlock
from ticklake_dagster.sources.ingest.spool import Spool, encode_frame, read_segment
from ticklake_dagster_tests.test_ingest.conftest import (
    lake_ticks,
    make_config,
    messages,
    run_to_end,
    spool_segments,
    tick_rows,
)
from ticklake_dagster_tests.test_ingest.test_spool_batcher import DAY, block, rows

CORRUPT = "ticklake_ingest_spool_corrupt_bytes_total"


def blocks_of(n: int, count: int) -> list[TickBlock]:
    return [
        block(["EURUSD", "GBPUSD"], [i % 2 for i in range(n)], day_start_ms(DAY) + 10_000 * k) for k in range(count)
    ]


def write_segment(directory, frames: list[TickBlock]) -> tuple[int, list[int]]:
    """Frames appended (fsynced) as the ingester appends them; -> segment number, each frame's offset."""
    spool = Spool(directory)
    offsets, pos = [], 0
    seq = None
    for frame in frames:
        seq = spool.append(frame)
        offsets.append(pos)
        pos += len(encode_frame(frame))
    spool.close()
    return seq, offsets


def flip(path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x5A
    path.write_bytes(bytes(data))


def test_one_flipped_byte_costs_only_its_frame_and_the_segment_is_quarantined(
    tmp_path,
    file_lake_resource,
    ingest_logs,
):
    frames = blocks_of(2000, 3)
    seq, offsets = write_segment(tmp_path / "home" / "spool", frames)  # fsynced while the lake was down
    path = spool_segments(tmp_path / "home")[0]
    flip(path, offsets[0] + 1000)  # inside the first frame's columns
    service = run_to_end(make_config(tmp_path, file_lake_resource), [])
    assert tick_rows(lake_ticks(file_lake_resource.get_lake())) == sorted(rows(frames[1]) + rows(frames[2]))
    lost = len(encode_frame(frames[0]))
    assert service.metrics.total(CORRUPT) == lost
    corrupt = messages(ingest_logs, "Spool segment corrupt: frames lost")
    assert [(c["segment"], c["offset"], c["bytes"]) for c in corrupt] == [(seq, 0, lost)]
    assert [r.levelname for r in ingest_logs.records if r.getMessage().startswith("Spool segment corrupt")] == ["ERROR"]
    assert not messages(ingest_logs, "Spool segment ends in a torn write (a crash mid-commit; never acknowledged)")
    assert spool_segments(tmp_path / "home") == []
    quarantined = tmp_path / "home" / "spool" / "quarantine" / path.name
    assert quarantined.exists() and quarantined.stat().st_size == sum(len(encode_frame(f)) for f in frames)
    assert messages(ingest_logs, "Replaying spool")[0]["ticks"] == 4000


def test_corruption_in_the_middle_keeps_the_frames_before_and_after(tmp_path):
    frames = blocks_of(5, 4)
    seq, offsets = write_segment(tmp_path / "s", frames)
    path = tmp_path / "s" / f"{seq:012d}.wal"
    flip(path, offsets[2] + 3)  # the third frame's magic
    scan = read_segment(path)
    assert [rows(b) for b in scan.blocks] == [rows(frames[0]), rows(frames[1]), rows(frames[3])]
    assert scan.corrupt == [(offsets[2], offsets[3] - offsets[2])] and scan.torn == 0


def test_a_flipped_length_field_or_a_damaged_last_frame_is_corruption_not_a_torn_write(tmp_path):
    frames = blocks_of(5, 3)
    seq, offsets = write_segment(tmp_path / "s", frames)
    path = tmp_path / "s" / f"{seq:012d}.wal"
    flip(path, offsets[1] + 5)  # the second frame's length
    flip(path, offsets[2] + 40)  # the last frame's payload: whole, but wrong
    scan = read_segment(path)
    end = path.stat().st_size
    assert [rows(b) for b in scan.blocks] == [rows(frames[0])]
    assert scan.corrupt == [(offsets[1], end - offsets[1])] and scan.torn == 0  # no intact frame to resume on


def test_a_torn_tail_is_told_apart_and_not_quarantined(tmp_path, file_lake_resource, ingest_logs):
    frames = blocks_of(50, 2)
    write_segment(tmp_path / "home" / "spool", frames)
    path = spool_segments(tmp_path / "home")[0]
    partial = encode_frame(blocks_of(50, 1)[0])[:300]  # kill -9 mid-commit: a prefix of the next frame
    with open(path, "ab") as f:
        f.write(partial)
    scan = read_segment(path)
    assert len(scan.blocks) == 2 and scan.torn == 300 and scan.corrupt == []
    service = run_to_end(make_config(tmp_path, file_lake_resource), [])
    assert tick_rows(lake_ticks(file_lake_resource.get_lake())) == sorted(rows(frames[0]) + rows(frames[1]))
    torn = messages(ingest_logs, "Spool segment ends in a torn write (a crash mid-commit; never acknowledged)")
    assert [t["bytes"] for t in torn] == [300] and service.metrics.total(CORRUPT) == 0
    assert not (tmp_path / "home" / "spool" / "quarantine").exists() and spool_segments(tmp_path / "home") == []


def legacy_frame(b: TickBlock) -> bytes:
    """The first spool format, written here independently: 16-bit symbol count, CRC over the payload only."""
    names = b"".join(bytes([len(s)]) + s.encode() for s in b.symbols)
    payload = (
        struct.pack("<IH", len(b), len(b.symbols))
        + names
        + b.codes.astype("<i4").tobytes()
        + b.ts_ms.astype("<i8").tobytes()
        + b.bid.astype("<f8").tobytes()
        + b.ask.astype("<f8").tobytes()
    )
    return struct.pack("<4sII", b"TLK1", len(payload), zlib.crc32(payload)) + payload


def test_segments_of_the_first_format_are_still_replayed(tmp_path, file_lake_resource):
    frames = blocks_of(7, 3)
    spool = tmp_path / "home" / "spool"
    spool.mkdir(parents=True)
    data = b"".join(legacy_frame(f) for f in frames)
    (spool / "000000000001.wal").write_bytes(data[:-5])  # and a torn tail, as a crash leaves it
    run_to_end(make_config(tmp_path, file_lake_resource), [])
    assert tick_rows(lake_ticks(file_lake_resource.get_lake())) == sorted(rows(frames[0]) + rows(frames[1]))
    assert spool_segments(tmp_path / "home") == []


def test_random_bytes_never_raise(tmp_path):
    rng = np.random.default_rng(5)
    for i in range(50):
        path = tmp_path / f"{i}.wal"
        path.write_bytes(b"TLK2" + bytes(rng.integers(0, 256, int(rng.integers(0, 200))).astype("uint8")))
        scan = read_segment(path)
        assert scan.blocks == [] and scan.torn + sum(n for _, n in scan.corrupt) == path.stat().st_size
