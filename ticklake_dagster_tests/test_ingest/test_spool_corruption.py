"""A damaged spool: corruption costs only the frames it hits, a torn tail is told apart, nothing is deleted."""

import struct
import zlib

import numpy as np

from ticklake_dagster.core.days import day_start_ms
from ticklake_dagster.sources.ingest.frames import scan_segment
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


def with_volumes(b: TickBlock) -> TickBlock:
    """The block with volumes on most ticks (every third tick has none on the ask side, every fifth none at all)."""
    i = np.arange(len(b))
    bid_volume = np.where(i % 5 == 4, np.nan, 1e6 + i * 250.0)
    ask_volume = np.where((i % 3 == 2) | (i % 5 == 4), np.nan, 2e6 + i * 0.5)
    return TickBlock(b.symbols, b.codes, b.ts_ms, b.bid, b.ask, bid_volume, ask_volume)


def volume_rows(b: TickBlock) -> list[tuple]:
    """rows() with each tick's volumes, None where it has none."""
    return sorted(
        zip(
            [b.symbols[c] for c in b.codes],
            b.ts_ms.tolist(),
            b.bid.tolist(),
            b.ask.tolist(),
            [None if np.isnan(v) else v for v in b.bid_volume.tolist()],
            [None if np.isnan(v) else v for v in b.ask_volume.tolist()],
        )
    )


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
    for i in range(100):
        path = tmp_path / f"{i}.wal"
        magic = (b"TLK2", b"TLK3")[i % 2]
        path.write_bytes(magic + bytes(rng.integers(0, 256, int(rng.integers(0, 200))).astype("uint8")))
        scan = read_segment(path)
        assert scan.blocks == [] and scan.torn + sum(n for _, n in scan.corrupt) == path.stat().st_size


# One group commit as the encoder wrote it before ticks had volumes (commit a50c796), generated by that code:
# TickBlock(["EURUSD", "BTC-USD"], codes [0, 1, 0], ts 1763026215250, ...251, ...6000,
# bid [1.1, 64000.5, 1.10002], ask [1.1002, 64001.0, 1.10021]).
OLD_FRAME = bytes.fromhex(
    "544c4b326f00000000000000775801e003000000000000000200000006455552555344074254432d55534400000000010000000000"
    "000052218d7c9a01000053218d7c9a01000040248d7c9a0100009a9999999999f13f000000001040ef407d224f92ae99f13f7cf2"
    "b0506b9af13f000000002040ef40edb60bcd759af13f"
)
OLD_ROWS = sorted(
    [
        ("EURUSD", 1763026215250, 1.1, 1.1002),
        ("BTC-USD", 1763026215251, 64000.5, 64001.0),
        ("EURUSD", 1763026216000, 1.10002, 1.10021),
    ]
)


def test_a_frame_written_before_volumes_still_decodes_with_no_volumes():
    scan = scan_segment(OLD_FRAME)
    assert scan.corrupt == [] and scan.torn == 0
    [old] = scan.blocks
    assert old.symbols == ["EURUSD", "BTC-USD"] and rows(old) == OLD_ROWS
    assert np.isnan(old.bid_volume).all() and np.isnan(old.ask_volume).all() and not old.has_volumes()
    assert encode_frame(old) == OLD_FRAME  # a block without volumes is still written byte for byte as before


def test_a_spool_of_frames_from_before_and_after_volumes_recovers_both(tmp_path):
    spool_dir = tmp_path / "s"
    spool_dir.mkdir()
    (spool_dir / "000000000001.wal").write_bytes(OLD_FRAME + OLD_FRAME[:40])  # the old version, killed mid-commit
    new = [with_volumes(b) for b in blocks_of(20, 2)]
    spool = Spool(spool_dir)
    scans = list(spool.recover())
    seq = spool.append(new[0])
    assert spool.append(blocks_of(3, 1)[0]) == seq  # no volumes: a TLK2 frame in the same segment
    assert spool.append(new[1]) == seq
    spool.close()
    assert [(s, [rows(b) for b in scan.blocks], scan.torn) for s, scan in scans] == [(1, [OLD_ROWS], 40)]
    data = (spool_dir / f"{seq:012d}.wal").read_bytes()
    assert [data[:4], data[len(encode_frame(new[0])) :][:4]] == [b"TLK3", b"TLK2"]
    scan = read_segment(spool_dir / f"{seq:012d}.wal")
    assert scan.corrupt == [] and scan.torn == 0
    assert [volume_rows(b) for b in scan.blocks] == [
        volume_rows(new[0]),
        volume_rows(blocks_of(3, 1)[0]),
        volume_rows(new[1]),
    ]
    assert scan.blocks[0].has_volumes() and not scan.blocks[1].has_volumes()


def test_damage_to_a_frame_with_volumes_costs_only_that_frame(tmp_path):
    frames = [with_volumes(b) for b in blocks_of(30, 4)]
    seq, offsets = write_segment(tmp_path / "s", frames)
    path = tmp_path / "s" / f"{seq:012d}.wal"
    size = len(encode_frame(frames[1]))
    flip(path, offsets[1] + size - 5)  # the second frame's ask volumes
    flip(path, offsets[3] + size // 2)
    scan = read_segment(path)
    assert [volume_rows(b) for b in scan.blocks] == [volume_rows(frames[0]), volume_rows(frames[2])]
    assert scan.corrupt == [(offsets[1], offsets[2] - offsets[1]), (offsets[3], size)] and scan.torn == 0


def test_a_frame_whose_format_byte_flipped_is_corruption_not_a_frame_of_the_other_format(tmp_path):
    plain, volumes = blocks_of(6, 1)[0], with_volumes(blocks_of(6, 1)[0])
    empty = TickBlock.without_volumes(["EURUSD"], *(np.empty(0, t) for t in ("int32", "int64", "float64", "float64")))
    # Without ticks both layouts fill the payload alike: only the CRC over the magic tells them apart.
    for first, other in ((plain, volumes), (volumes, plain), (empty, plain)):
        data = bytearray(encode_frame(first) + encode_frame(other))
        data[3] ^= ord("2") ^ ord("3")  # TLK2 <-> TLK3
        scan = scan_segment(bytes(data))
        assert [volume_rows(b) for b in scan.blocks] == [volume_rows(other)]
        assert scan.corrupt == [(0, len(encode_frame(first)))] and scan.torn == 0


def test_a_frame_with_volumes_cut_off_by_a_crash_is_a_torn_tail(tmp_path):
    frames = [with_volumes(b) for b in blocks_of(25, 2)]
    whole = b"".join(encode_frame(f) for f in frames)
    for cut in (3, 15, 100, len(encode_frame(frames[1])) - 1):
        scan = scan_segment(whole[: len(encode_frame(frames[0])) + cut])
        assert [volume_rows(b) for b in scan.blocks] == [volume_rows(frames[0])]
        assert scan.torn == cut and scan.corrupt == []
