"""The queue when memory is full: wait for a writer that is draining it, spill otherwise."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingestd.ingest.events import Limits, parse_event
from ingestd.ingest.parcel import Parcel
from ingestd.ingest.queue import IngestQueue
from ingestd.ingest.spool import Spool


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    spool = Spool(tmp_path / "spool", 10**8)
    spool.open()
    yield spool
    spool.close()


def parcel(n: int) -> Parcel:
    now = datetime.now(UTC)
    return Parcel([parse_event({"message": f"m{i}"}, now, Limits()) for i in range(n)], 10 * n)


async def test_a_full_queue_waits_for_a_draining_writer_instead_of_spilling(spool: Spool) -> None:
    queue = IngestQueue(10, 10**6, spool, full_wait_s=5)
    queue.start_replay(0)
    await queue.put(parcel(10))
    taken = await queue.take(10, 0)
    queue.release([])  # the writer committed a moment ago: it is draining
    waiting = asyncio.create_task(queue.put(parcel(4)))
    await asyncio.sleep(0.1)
    assert not waiting.done(), "a full queue with a draining writer waits for room"
    queue.release(taken)
    await asyncio.wait_for(waiting, 1)
    assert not queue.spilled and spool.size_bytes == 0
    assert len(queue) == 4


async def test_a_full_queue_spills_at_once_when_the_writer_is_stuck(spool: Spool) -> None:
    queue = IngestQueue(10, 10**6, spool, full_wait_s=5)
    queue.start_replay(0)
    await queue.put(parcel(10))  # nothing committed yet: the writer may be stuck
    await asyncio.wait_for(queue.put(parcel(4)), 0.5)
    assert queue.spilled


async def test_a_full_queue_spills_when_room_does_not_come_in_time(spool: Spool) -> None:
    queue = IngestQueue(10, 10**6, spool, full_wait_s=0.2)
    queue.start_replay(0)
    await queue.put(parcel(10))
    queue.release([])
    await asyncio.wait_for(queue.put(parcel(4)), 1)
    assert queue.spilled
