"""The queue between the HTTP handlers and the batch writer: memory in front of a spool.

Memory is bounded by events and by bytes, counting what the writer holds until it is
committed. With `durable` (INGESTD_DURABILITY=spool) every parcel is also appended to the
spool and acknowledged once fsync'd. When memory is full but the writer is draining it
(it committed within the last second), put() first waits up to `full_wait_s` for room: a
writer that is only behind catches up faster than one that must also spill and read back
(measured: spilling costs ingestd about a third more CPU per event). When memory stays full,
or the writer is stuck (the database is away), parcels go to the spool only ("spilled"),
and everything after them too, until the writer has read the spool back up to its end:
order is kept. Only when the spool is full too does put() refuse.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import deque

from ingestd.ingest.parcel import Parcel, from_bytes, to_bytes
from ingestd.ingest.spool import Spool, SpoolFull


class QueueFull(Exception):
    """No room right now; try again later."""


#: The writer counts as draining the queue for this long after its last commit.
DRAINING_WINDOW_S = 1.0


class IngestQueue:
    def __init__(
        self,
        max_events: int,
        max_bytes: int,
        spool: Spool | None = None,
        durable: bool = False,
        full_wait_s: float = 0.0,
    ) -> None:
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.full_wait_s = full_wait_s
        self._released_at = -DRAINING_WINDOW_S  # when the writer last freed room
        self._room = asyncio.Event()
        self.spool = spool
        self.durable = durable and spool is not None
        self.boot_id = f"boot-{uuid.uuid4()}"
        self.spool_id = spool.id if spool is not None else ""
        self._seq = 0
        self._parcels: deque[Parcel] = deque()
        self._queued_events = 0
        self.held_events = 0
        self.held_bytes = 0
        self._arrived = asyncio.Event()
        self._closed = False
        # The spool may hold parcels from before a restart: until the writer has read it to
        # its end, new parcels join it there, behind them.
        self._spilled = spool is not None and spool.size_bytes > 0
        self._disk_cursor: int | None = None  # set by the writer from the checkpoint
        self._spilled_waiters: dict[int, asyncio.Future[None]] = {}
        # What an earlier process left in the spool, counted as it is read back.
        self._inherited_end = spool.durable_end if spool is not None else 0
        self.recovered_events = 0

    def __len__(self) -> int:
        return self._queued_events

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def spilled(self) -> bool:
        return self._spilled

    @property
    def disk_cursor(self) -> int | None:
        """The spool position of the last parcel handed to the writer."""
        return self._disk_cursor

    def _has_room(self, parcel: Parcel) -> bool:
        return (
            self.held_events + len(parcel.events) <= self.max_events
            and self.held_bytes + parcel.nbytes <= self.max_bytes
        )

    def _enqueue(self, parcel: Parcel) -> None:
        parcel.held_events, parcel.held_bytes = len(parcel.events), parcel.nbytes
        self._parcels.append(parcel)
        self._queued_events += len(parcel.events)
        self.held_events += len(parcel.events)
        self.held_bytes += parcel.nbytes
        self._arrived.set()

    async def put(self, parcel: Parcel) -> None:
        """Queue a parcel (in durable mode: once it is on disk) or raise QueueFull."""
        if self._closed:
            raise QueueFull("shutting down")
        if not self._has_room(parcel) and not self._spilled:
            await self._wait_for_room(parcel)
        to_disk = self.spool is not None and (
            self.durable or self._spilled or not self._has_room(parcel)
        )
        if not to_disk:
            if not self._has_room(parcel):
                raise QueueFull("the queue is full")
            self._seq += 1
            parcel.origin, parcel.seq = self.boot_id, self._seq
            self._enqueue(parcel)
            return
        assert self.spool is not None
        try:
            # An empty parcel (a barrier) is never refused: it takes a few bytes.
            parcel.seq, written = self.spool.append(to_bytes(parcel), force=not parcel.events)
        except SpoolFull as exc:
            raise QueueFull(f"the queue and the spool are full ({exc})") from None
        parcel.origin = self.spool_id
        if not self._spilled and self._has_room(parcel):
            self._enqueue(parcel)
        else:
            self._spilled = True
            if parcel.done is not None:
                self._spilled_waiters[parcel.seq] = parcel.done
            self._arrived.set()
        if self.durable:
            try:
                await written
            except SpoolFull as exc:
                parcel.events = []  # not acknowledged, so not to be written either
                raise QueueFull(f"the spool cannot take it ({exc})") from None

    async def _wait_for_room(self, parcel: Parcel) -> None:
        """While the writer drains memory, wait (at most full_wait_s) for room."""
        deadline = time.monotonic() + self.full_wait_s
        while not self._has_room(parcel) and not self._closed and not self._spilled:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or time.monotonic() - self._released_at > DRAINING_WINDOW_S:
                return
            self._room.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._room.wait(), min(remaining, DRAINING_WINDOW_S))

    def start_replay(self, checkpoint: int) -> None:
        """The writer knows what was committed: read the spool back from there."""
        self._disk_cursor = checkpoint

    async def take(self, max_events: int, max_wait_s: float) -> list[Parcel]:
        """Whole parcels in order, up to max_events (at least one parcel), once max_events are
        queued or max_wait_s after the first arrived. Empty only when closed and drained."""
        while True:
            if self._parcels:
                return await self._take_from_memory(max_events, max_wait_s)
            if self._spilled and self.spool is not None and self._disk_cursor is not None:
                end, writing = self.spool.durable_end, self.spool.writing
                batch = await asyncio.to_thread(self._read_spool, max_events)
                if batch:
                    return batch
                if not writing and not self.spool.writing and self.spool.durable_end == end:
                    # Read to the end, nothing written meanwhile: caught up, memory again.
                    # (No await between this check and the switch: no put() can interleave.)
                    self._spilled = False
                    continue
                await asyncio.sleep(0.005)  # a spool write is in flight
                continue
            if self._closed:
                return []
            self._arrived.clear()
            await self._arrived.wait()

    async def _take_from_memory(self, max_events: int, max_wait_s: float) -> list[Parcel]:
        if self._queued_events < max_events and not self._closed:
            deadline = self._parcels[0].enqueued_at + max_wait_s
            while self._queued_events < max_events and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), remaining)
                except TimeoutError:
                    break
        batch = [self._parcels.popleft()]
        taken = len(batch[0].events)
        while self._parcels and taken + len(self._parcels[0].events) <= max_events:
            parcel = self._parcels.popleft()
            taken += len(parcel.events)
            batch.append(parcel)
        self._queued_events -= taken
        if self._disk_cursor is not None and batch[-1].origin == self.spool_id:
            self._disk_cursor = max(self._disk_cursor, batch[-1].seq)
        return batch

    def _read_spool(self, max_events: int) -> list[Parcel]:
        """Parcels from the spool after the cursor (runs in a thread: file reads)."""
        assert self.spool is not None and self._disk_cursor is not None
        batch: list[Parcel] = []
        events = 0
        for pos, payload in self.spool.read_after(self._disk_cursor, limit=256):
            parcel = from_bytes(payload, self.spool_id, pos)
            parcel.done = self._spilled_waiters.pop(pos, None)
            if pos <= self._inherited_end:
                self.recovered_events += len(parcel.events)
            batch.append(parcel)
            self._disk_cursor = pos
            events += len(parcel.events)
            if events >= max_events:
                break
        return batch

    def release(self, parcels: list[Parcel]) -> None:
        """The writer is done with these parcels: their memory, and their spool segments
        once committed, are free again."""
        spooled = 0
        for parcel in parcels:
            self.held_events -= parcel.held_events
            self.held_bytes -= parcel.held_bytes
            parcel.held_events = parcel.held_bytes = 0
            if parcel.origin == self.spool_id and parcel.origin:
                spooled = max(spooled, parcel.seq)
        if spooled and self.spool is not None:
            self.spool.release(spooled)
        self._released_at = time.monotonic()
        self._room.set()

    def close(self) -> None:
        """Take no more; wake the writer so it drains what is left."""
        self._closed = True
        self._arrived.set()
        self._room.set()

    def abandon(self) -> list[Parcel]:
        """Everything still queued in memory, removed: for the shutdown report."""
        parcels = list(self._parcels)
        self._parcels.clear()
        self._queued_events = 0
        return parcels
