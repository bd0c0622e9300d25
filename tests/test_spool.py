"""The disk spool: records survive, torn tails are cut, full disks fail cleanly."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from ingestd.ingest import spool as spool_module
from ingestd.ingest.spool import Spool, SpoolFull, SpoolLocked, split_position


async def write(spool: Spool, *payloads: bytes) -> list[int]:
    appended = [spool.append(p) for p in payloads]
    await asyncio.gather(*(done for _, done in appended))
    return [pos for pos, _ in appended]


def reopened(path: Path, **kwargs: int) -> Spool:
    spool = Spool(
        path,
        max_bytes=kwargs.get("max_bytes", 1 << 20),
        segment_bytes=kwargs.get("segment_bytes", 1 << 20),
    )
    spool.open()
    return spool


async def test_records_come_back_in_order_after_reopening(tmp_path: Path) -> None:
    spool = reopened(tmp_path)
    positions = await write(spool, b"one", b"two", b"three")
    assert positions == sorted(positions)
    spool.close()
    again = reopened(tmp_path)
    assert [p for _, p in again.read_after(0)] == [b"one", b"two", b"three"]
    assert [p for _, p in again.read_after(positions[0])] == [b"two", b"three"]
    assert again.durable_end == positions[-1]


async def test_concurrent_appends_share_few_fsyncs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        nonlocal calls
        calls += 1
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    spool = reopened(tmp_path)
    await write(spool, *(b"x%d" % i for i in range(200)))
    assert calls <= 4  # 200 records, group-committed
    assert len(list(spool.read_after(0))) == 200


async def test_a_torn_tail_is_cut_off_and_never_replayed(tmp_path: Path) -> None:
    spool = reopened(tmp_path)
    await write(spool, b"complete", b"also complete")
    segment = next(tmp_path.glob("*.seg"))
    with segment.open("ab") as handle:  # a crash in the middle of a write
        handle.write(b"\x40\x00\x00\x00\x12\x34")
    spool.close()
    again = reopened(tmp_path)
    assert again.torn_records == 1
    assert [p for _, p in again.read_after(0)] == [b"complete", b"also complete"]
    await write(again, b"after the crash")
    again.close()
    assert [p for _, p in reopened(tmp_path).read_after(0)][-1] == b"after the crash"


async def test_a_corrupt_record_ends_the_readable_part(tmp_path: Path) -> None:
    spool = reopened(tmp_path)
    await write(spool, b"good", b"flipped", b"lost after it")
    segment = next(tmp_path.glob("*.seg"))
    data = bytearray(segment.read_bytes())
    data[8 + 4 + 8 + 2] ^= 0xFF  # a bit flip inside the second payload
    segment.write_bytes(bytes(data))
    spool.close()
    assert [p for _, p in reopened(tmp_path).read_after(0)] == [b"good"]


async def test_segments_roll_over_and_release_deletes_committed_ones(tmp_path: Path) -> None:
    spool = reopened(tmp_path, segment_bytes=64)
    positions = await write(spool, *(b"%030d" % i for i in range(6)))
    assert len(list(tmp_path.glob("*.seg"))) == 6
    assert [split_position(p)[0] for p in positions] == [0, 1, 2, 3, 4, 5]
    freed = spool.release(positions[3])
    assert freed > 0
    assert len(list(tmp_path.glob("*.seg"))) == 3
    assert [p for _, p in spool.read_after(positions[3])] == [b"%030d" % 4, b"%030d" % 5]
    assert [p for _, p in spool.read_after(positions[2], limit=2)] == [b"%030d" % 3, b"%030d" % 4]


async def test_the_size_limit_refuses_new_records(tmp_path: Path) -> None:
    spool = reopened(tmp_path, max_bytes=100)
    await write(spool, b"a" * 40)
    with pytest.raises(SpoolFull, match="limit is 100"):
        spool.append(b"b" * 60)
    spool.release(spool.durable_end)  # all committed: the spool is empty again
    assert spool.size_bytes == 0
    await write(spool, b"b" * 60)
    # Positions keep growing across a restart, even when everything was released.
    before = spool.durable_end
    spool.release(before)
    spool.close()
    again = reopened(tmp_path)
    assert again.size_bytes == 0
    assert (await write(again, b"c"))[0] > before


async def test_a_full_disk_fails_the_write_and_leaves_no_corruption(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = reopened(tmp_path)
    await write(spool, b"kept")
    real_pwrite = os.pwrite

    def disk_full(fd: int, data: bytes | memoryview, offset: int) -> int:
        real_pwrite(fd, bytes(data)[:3], offset)  # a partial write, then ENOSPC
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "pwrite", disk_full)
    _, done = spool.append(b"refused")
    with pytest.raises(SpoolFull, match="No space left"):
        await done
    monkeypatch.setattr(os, "pwrite", real_pwrite)
    await write(spool, b"room again")
    spool.close()
    assert [p for _, p in reopened(tmp_path).read_after(0)] == [b"kept", b"room again"]


def test_one_spool_one_process(tmp_path: Path) -> None:
    first = reopened(tmp_path)
    with pytest.raises(SpoolLocked, match="give each replica its own INGESTD_DATA_DIR"):
        reopened(tmp_path)
    first.close()
    reopened(tmp_path).close()


async def test_reading_goes_chunk_by_chunk_across_record_boundaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spool_module, "READ_CHUNK", 7)  # smaller than one record
    spool = reopened(tmp_path)
    payloads = [b"%d" % i * (i + 1) for i in range(30)]
    positions = await write(spool, *payloads)
    assert [p for _, p in spool.read_after(0)] == payloads
    assert [p for _, p in spool.read_after(positions[9], limit=3)] == payloads[10:13]
    spool.close()
