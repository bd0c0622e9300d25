"""The bounded in-memory queue between the HTTP handlers and the batch writer.

Bounded by events and by bytes, counting what the writer holds until it is committed:
memory stays flat however fast clients send. A full queue refuses (the handler answers
503 with Retry-After) rather than growing.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field

from ingestd.events import Event


@dataclass(slots=True, eq=False)
class Parcel:
    """The accepted events of one request, in order, with what its sender waits on."""

    events: list[Event]
    nbytes: int
    idempotency_key: str | None = None
    #: The answer given for the request, stored with its idempotency key.
    response: bytes = b""
    #: Set once every event is committed or dead-lettered (for ?wait=commit and REST).
    done: asyncio.Future[None] | None = None
    #: The idempotency key is already stored (a parcel split across retries).
    key_recorded: bool = False
    enqueued_at: float = field(default_factory=time.monotonic)


class QueueFull(Exception):
    """No room right now; try again later."""


class IngestQueue:
    def __init__(self, max_events: int, max_bytes: int) -> None:
        self.max_events = max_events
        self.max_bytes = max_bytes
        self._parcels: deque[Parcel] = deque()
        self._queued_events = 0
        # Held = queued + taken by the writer and not yet released.
        self.held_events = 0
        self.held_bytes = 0
        self._arrived = asyncio.Event()
        self._closed = False

    def __len__(self) -> int:
        return self._queued_events

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, parcel: Parcel) -> None:
        """Queue a parcel or raise QueueFull; never waits."""
        count = len(parcel.events)
        if (
            self._closed
            or self.held_events + count > self.max_events
            or self.held_bytes + parcel.nbytes > self.max_bytes
        ):
            raise QueueFull
        self._parcels.append(parcel)
        self._queued_events += count
        self.held_events += count
        self.held_bytes += parcel.nbytes
        self._arrived.set()

    async def take(self, max_events: int, max_wait_s: float) -> list[Parcel]:
        """Whole parcels, up to max_events (at least one parcel), once max_events are
        queued or max_wait_s after the first one arrived. Empty only when closed."""
        while not self._parcels:
            if self._closed:
                return []
            self._arrived.clear()
            await self._arrived.wait()
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
        return batch

    def release(self, parcels: list[Parcel]) -> None:
        """The writer is done with these parcels: their room is free again."""
        for parcel in parcels:
            self.held_events -= len(parcel.events)
            self.held_bytes -= parcel.nbytes

    def close(self) -> None:
        """Take no more; wake the writer so it drains what is left."""
        self._closed = True
        self._arrived.set()

    def abandon(self) -> list[Parcel]:
        """Everything still queued, removed: for the shutdown report when time ran out."""
        parcels = list(self._parcels)
        self._parcels.clear()
        self._queued_events = 0
        return parcels
