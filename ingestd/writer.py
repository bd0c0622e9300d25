"""The batch writer: takes parcels from the queue and commits them to PostgreSQL.

Retry rules (after Vector's postgres sink, without its flaw): a connection error keeps the
batch and retries with capped backoff; a batch that fails on its data is split in halves
until the bad events are isolated, and those go to the dead-letter table with the reason.
One bad event never costs its neighbours.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
from asyncpg.exceptions._base import DataError as ClientDataError

from ingestd import store
from ingestd.database import RETRYABLE_ERRORS
from ingestd.events import Event, LogRow
from ingestd.queue import IngestQueue, Parcel

log = logging.getLogger("ingestd.writer")

#: The data itself was refused (SQLSTATE classes 22, 23, 54, or asyncpg could not encode a
#: value): isolate, don't retry.
DATA_ERRORS: tuple[type[BaseException], ...] = (
    ClientDataError,
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    asyncpg.ProgramLimitExceededError,
)


@dataclass(slots=True)
class WriterStats:
    committed: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    batches: int = 0
    db_errors: int = 0


class BatchWriter:
    def __init__(
        self,
        pool: asyncpg.Pool,
        queue: IngestQueue,
        *,
        batch_max_events: int,
        batch_max_wait_s: float,
        max_backoff_s: float,
        on_batch: Callable[[int, float], None] | None = None,
        on_committed: Callable[[list[LogRow]], None] | None = None,
    ) -> None:
        self.pool = pool
        self.queue = queue
        self.batch_max_events = batch_max_events
        self.batch_max_wait_s = batch_max_wait_s
        self.max_backoff_s = max_backoff_s
        self.stats = WriterStats()
        #: The last database error, while it lasts; /readyz reports it.
        self.failing: str | None = None
        self._on_batch = on_batch
        #: Called with the log rows of each commit (live tail); must not block.
        self.on_committed = on_committed
        #: The batch being written, so a shutdown that runs out of time can count it.
        self.current: list[Parcel] = []

    async def run(self) -> None:
        """Write until the queue is closed and empty."""
        while True:
            parcels = await self.queue.take(self.batch_max_events, self.batch_max_wait_s)
            if not parcels:
                return
            started = time.monotonic()
            self.current = parcels
            try:
                await self._commit(parcels)
            finally:
                self.queue.release(parcels)
            self.current = []
            elapsed = time.monotonic() - started
            size = sum(len(p.events) for p in parcels)
            self.stats.batches += 1
            if self._on_batch is not None:
                self._on_batch(size, elapsed)
            for parcel in parcels:
                if parcel.done is not None and not parcel.done.done():
                    parcel.done.set_result(None)

    async def _commit(self, parcels: list[Parcel]) -> None:
        """Commit parcels, retrying what is transient, isolating what is bad."""
        attempt = 0
        while True:
            try:
                async with self.pool.acquire() as conn:
                    result = await store.write(conn, parcels, retry=attempt > 0)
            except DATA_ERRORS as exc:
                if _partition_race(exc):
                    attempt += 1
                    await self._back_off(attempt, exc, sum(len(p.events) for p in parcels))
                    continue
                self._recovered()
                await self._isolate(parcels, exc)
                return
            except RETRYABLE_ERRORS as exc:
                # Connection trouble, or the database in a state we cannot fix from here
                # (missing table, read-only, deadlock): the batch is not at fault. Keep it.
                attempt += 1
                self.stats.db_errors += 1
                await self._back_off(attempt, exc, sum(len(p.events) for p in parcels))
                continue
            except Exception as exc:
                # A bug of ours, not the database's: keep the writer alive and the events
                # accounted for by treating the batch like bad data.
                log.exception("unexpected error writing a batch")
                await self._isolate(parcels, exc)
                return
            self._recovered()
            self.stats.committed += result.committed
            self.stats.duplicates += result.duplicates
            if self.on_committed is not None and result.logs:
                self.on_committed(result.logs)
            return

    async def _isolate(self, parcels: list[Parcel], exc: BaseException) -> None:
        events = [event for parcel in parcels for event in parcel.events]
        if len(events) == 1:
            await self._dead_letter(events[0], f"{type(exc).__name__}: {exc}")
            return
        await self._drop_recorded_duplicates(parcels)
        if not any(p.events for p in parcels):
            return
        first, second = _split(parcels)
        log.warning(
            "batch of %d events failed on its data (%s); splitting to isolate the bad ones",
            len(events),
            exc,
        )
        await self._commit(first)
        await self._commit(second)

    async def _drop_recorded_duplicates(self, parcels: list[Parcel]) -> None:
        keys = [p.idempotency_key for p in parcels if p.idempotency_key and not p.key_recorded]
        if not keys:
            return
        async with self.pool.acquire() as conn:
            seen = await store.existing_keys(conn, keys)
        for parcel in parcels:
            if parcel.idempotency_key in seen and not parcel.key_recorded:
                self.stats.duplicates += len(parcel.events)
                parcel.events = []

    async def _dead_letter(self, event: Event, reason: str) -> None:
        attempt = 0
        while True:
            try:
                async with self.pool.acquire() as conn:
                    await store.dead_letter(conn, event, reason)
            except RETRYABLE_ERRORS as exc:
                attempt += 1
                await self._back_off(attempt, exc, 1)
                continue
            self.stats.dead_lettered += 1
            log.error("dead-lettered 1 event: %s", reason)
            return

    async def _back_off(self, attempt: int, exc: BaseException, events: int) -> None:
        self.failing = f"{type(exc).__name__}: {exc}"
        delay = min(self.max_backoff_s, 0.05 * 2**attempt) * random.uniform(0.5, 1.0)
        if attempt == 1 or attempt % 20 == 0:
            log.warning(
                "database write failed (attempt %d, %d events kept, retrying in %.2fs): %s",
                attempt,
                events,
                delay,
                self.failing,
            )
        await asyncio.sleep(delay)

    def _recovered(self) -> None:
        if self.failing is not None:
            log.info("database writes succeed again")
            self.failing = None


def _partition_race(exc: BaseException) -> bool:
    """A row routed to the default partition while a partition for its day was attached
    (or detached): the data is fine, the retry is routed anew."""
    return isinstance(exc, asyncpg.CheckViolationError) and "partition constraint" in str(exc)


def _split(parcels: list[Parcel]) -> tuple[list[Parcel], list[Parcel]]:
    """Two halves by event count; a single parcel is cut in two, its key kept by the first."""
    parcels = [p for p in parcels if p.events]
    if len(parcels) > 1:
        total = sum(len(p.events) for p in parcels)
        running, cut = 0, 1
        for index, parcel in enumerate(parcels):
            running += len(parcel.events)
            if running >= total / 2:
                cut = max(1, min(index + 1, len(parcels) - 1))
                break
        return parcels[:cut], parcels[cut:]
    only = parcels[0]
    middle = len(only.events) // 2
    # The head records the key (unless recorded before); the tail moves the checkpoint.
    head = Parcel(only.events[:middle], 0, only.idempotency_key, only.response,
                  key_recorded=only.key_recorded, origin=only.origin, seq=only.seq,
                  checkpoint=False)  # fmt: skip
    tail = Parcel(only.events[middle:], 0, None, b"", key_recorded=True, origin=only.origin,
                  seq=only.seq, checkpoint=only.checkpoint)  # fmt: skip
    return [head], [tail]
