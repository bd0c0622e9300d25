"""The batch writer: takes parcels from the queue and commits them to PostgreSQL.

Retry rules (after Vector's postgres sink, without its flaw), by database.error_kind: the
database away (a connection error, or a state to wait out: read-only, deadlock, disk full)
keeps the batch and retries with capped backoff for as long as it takes; a batch that fails
on its data is split in halves until the bad events stand alone, and those go to the
dead-letter table with the reason (dead_letters.py; dropped, counted and logged, if the
table takes them in no form). A refusal of no known kind is tried a few times, then taken
as the data's. One bad event never costs its neighbours, nor keeps the writer retrying.

Pipelining: up to `connections` batches are in flight, each in its own transaction. A batch
taken while the one before it is still being written is *staged*: it COPYs its log rows as
soon as the batch before has COPYed its own (so log ids keep the order events came in), then
waits for its turn, the commit of the batch before, to merge runs, save checkpoints and
commit (store.finish). So one batch's merge and commit overlap the next one's COPY, and a
run's changes still apply in the order they came. Anything unusual (a duplicate, an error, a
wait that takes too long) rolls the staged transaction back and the batch is written again
in its turn, the plain way.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import asyncpg
from aiohttp import web

from ingestd.db.database import RETRYABLE_ERRORS, Conn, ErrorKind, error_kind, pooled
from ingestd.ingest import dead_letters, store
from ingestd.ingest.events import Event, LogRow
from ingestd.ingest.halves import as_sent, halves
from ingestd.ingest.parcel import Parcel
from ingestd.ingest.queue import IngestQueue
from ingestd.retry import Backoff

log = logging.getLogger("ingestd.writer")

T = TypeVar("T")

#: Tries of a batch the database refuses for a reason of no known kind, before the refusal
#: is taken as the data's fault (pieces of a batch being cut are tried once).
REFUSED_TRIES = 3
#: The first wait after a failed write; it doubles up to INGESTD_RETRY_MAX_BACKOFF_S.
WRITE_RETRY_FIRST_S = 0.1
#: How much of a dropped event the log line shows.
DROPPED_LOG_CHARS = 2000

#: How long a staged batch, holding its transaction open, waits for the batch before it.
#: Past this, something is stuck (the batch before retries a lost database, or DDL queues
#: for a lock the staged COPY holds): roll back, so no wait can go round in a circle.
TURN_WAIT_S = 2.0
#: What rolls a staged batch back to be written the plain way, as expected: a duplicate,
#: a turn that took too long, anything the database said.
STAGED_FALLBACKS: tuple[type[BaseException], ...] = (
    store.Duplicates,
    TimeoutError,
    *RETRYABLE_ERRORS,  # asyncpg's own DataError included: it is an InterfaceError
    UnicodeError,
)
#: Runs whose job the writer remembers, so staged log rows naming no job can get theirs.
KNOWN_JOBS_MAX = 100_000


class Progress:
    """How far one batch is: the batch after it waits on this."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        #: Its log rows are COPYed (or it is committed): the next batch may COPY its own.
        self.copied: asyncio.Future[None] = loop.create_future()
        #: It is committed (or abandoned at shutdown): the next batch's turn.
        self.committed: asyncio.Future[None] = loop.create_future()

    def mark(self, future: asyncio.Future[None]) -> None:
        if not future.done():
            future.set_result(None)


@dataclass(slots=True)
class WriterStats:
    committed: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    #: Events refused by the database and by dead_letters in every form: logged, not kept.
    dropped: int = 0
    batches: int = 0
    db_errors: int = 0
    #: Batches whose COPY ran while the batch before was being written, committed so.
    staged: int = 0
    #: Staged batches rolled back and written again in turn (a duplicate, an error, a wait).
    unstaged: int = 0


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
        connections: int = 1,
    ) -> None:
        self.pool = pool
        self.queue = queue
        self.batch_max_events = batch_max_events
        self.batch_max_wait_s = batch_max_wait_s
        self.backoff = Backoff(WRITE_RETRY_FIRST_S, max_backoff_s)
        self.stats = WriterStats()
        #: The last database error, while it lasts; /readyz reports it.
        self.failing: str | None = None
        self._on_batch = on_batch
        #: Called with the log rows of each commit (live tail); must not block.
        self.on_committed = on_committed
        self.connections = connections
        self._in_flight: dict[int, list[Parcel]] = {}
        self._numbers = itertools.count()
        #: run_id -> job, from the runs the writer merged lately.
        self._known_jobs: dict[str, str] = {}

    @property
    def current(self) -> list[Parcel]:
        """The batches being written, so a shutdown that runs out of time can count them."""
        return [parcel for parcels in self._in_flight.values() for parcel in parcels]

    async def run(self) -> None:
        """Write until the queue is closed and empty."""
        slots = asyncio.Semaphore(self.connections)
        previous: Progress | None = None
        async with asyncio.TaskGroup() as group:
            while True:
                await slots.acquire()
                parcels = await self.queue.take(self.batch_max_events, self.batch_max_wait_s)
                if not parcels:
                    return
                progress = Progress()
                task = group.create_task(self._write(parcels, previous, progress))
                task.add_done_callback(lambda _: slots.release())
                previous = progress

    async def _write(
        self, parcels: list[Parcel], previous: Progress | None, progress: Progress
    ) -> None:
        """Write one batch, telling the batch after it how far it is."""
        number = next(self._numbers)
        self._in_flight[number] = parcels
        started = time.monotonic()
        try:
            if previous is None or previous.committed.done():
                await self._commit(parcels)
            elif not await self._staged(parcels, previous, progress):
                await asyncio.shield(previous.committed)
                await self._commit(parcels, outcome_unknown=True)
            # Committed (or dead-lettered): the memory, and the spool up to here, are free.
            self.queue.release(parcels)
            self.stats.batches += 1
            if self._on_batch is not None:
                self._on_batch(sum(len(p.events) for p in parcels), time.monotonic() - started)
            for parcel in parcels:
                if parcel.done is not None and not parcel.done.done():
                    parcel.done.set_result(None)
        finally:
            del self._in_flight[number]
            progress.mark(progress.copied)
            progress.mark(progress.committed)

    async def _staged(self, parcels: list[Parcel], previous: Progress, progress: Progress) -> bool:
        """COPY early, the rest in turn; False if the batch must be written the plain way."""
        try:
            async with pooled(self.pool) as conn:
                transaction = conn.transaction()
                await transaction.start()
                try:
                    staged = await store.stage(conn, parcels, self._known_jobs)
                    await asyncio.wait_for(asyncio.shield(previous.copied), TURN_WAIT_S)
                    await store.copy_logs(conn, staged.logs)
                    progress.mark(progress.copied)
                    await asyncio.wait_for(asyncio.shield(previous.committed), TURN_WAIT_S)
                    result = await store.finish(conn, staged)
                    await transaction.commit()
                except Exception:
                    with contextlib.suppress(Exception):
                        await transaction.rollback()
                    raise
        except STAGED_FALLBACKS as exc:
            # The plain way deals with these (a retry there also finds out whether a commit
            # that failed to answer went through).
            log.debug("staged batch rolled back, written in turn instead: %r", exc)
            self.stats.unstaged += 1
            return False
        except Exception:
            # A bug of ours: say so, rather than quietly losing the overlap for good.
            log.exception("staged batch failed unexpectedly; written in turn instead")
            self.stats.unstaged += 1
            return False
        self.stats.staged += 1
        self._committed(result)
        return True

    def _committed(self, result: store.WriteResult) -> None:
        self._recovered()
        self.stats.committed += result.committed
        self.stats.duplicates += result.duplicates
        if len(self._known_jobs) + len(result.jobs) > KNOWN_JOBS_MAX:
            self._known_jobs.clear()
        self._known_jobs.update(result.jobs)
        if self.on_committed is not None and result.logs:
            self.on_committed(result.logs)

    async def _commit(
        self, parcels: list[Parcel], outcome_unknown: bool = False, *, piece: bool = False
    ) -> None:
        """Commit parcels, retrying what is transient, isolating what is bad. After a failed
        attempt (here, or staged) the parcels may be committed already: a retry checks."""
        attempt = 0
        while True:
            try:
                async with pooled(self.pool) as conn:
                    retry = outcome_unknown or attempt > 0
                    result = await store.write(conn, parcels, retry=retry)
            except Exception as exc:
                kind = error_kind(exc)
                if (
                    kind is ErrorKind.AWAY
                    or _partition_race(exc)
                    or (kind is ErrorKind.REFUSED and not piece and attempt < REFUSED_TRIES - 1)
                ):
                    # The database away or in a state to wait out (a table missing, read-only,
                    # a deadlock), or a refusal that may pass: the batch is not known to be at
                    # fault. Keep it.
                    attempt += 1
                    self.stats.db_errors += 1
                    await self._back_off(attempt, exc, sum(len(p.events) for p in parcels))
                    continue
                if kind is not ErrorKind.BUG:
                    self._recovered()
                    await self._isolate(parcels, exc)
                    return
                # A bug (ours or the driver's), not the database's: keep the writer alive and
                # the events accounted for by treating the batch like bad data; but the error
                # may have come after the COMMIT, so first leave out what is committed.
                log.exception("unexpected error writing a batch")
                todo = await self._retrying(parcels, lambda c: store.uncommitted(c, parcels))
                left = sum(len(p.events) for p in todo)
                self.stats.duplicates += sum(len(p.events) for p in parcels) - left
                if left:
                    await self._isolate(todo, exc)
                return
            self._committed(result)
            return

    async def _retrying(
        self, parcels: list[Parcel], work: Callable[[Conn], Awaitable[T]], only_away: bool = False
    ) -> T:
        """work(conn), tried again while the database is away (the warnings count `parcels`'
        events as waiting). For the writer's own reads (which carry no event: any database
        error is retried) and records (only_away: the record may be what is refused)."""
        attempt = 0
        while True:
            try:
                async with pooled(self.pool) as conn:
                    return await work(conn)
            except RETRYABLE_ERRORS as exc:
                if only_away and error_kind(exc) is not ErrorKind.AWAY:
                    raise
                attempt += 1
                await self._back_off(attempt, exc, sum(len(p.events) for p in parcels))

    async def _isolate(self, parcels: list[Parcel], exc: BaseException) -> None:
        events = [event for parcel in parcels for event in parcel.events]
        if len(events) == 1:
            await self._dead_letter(parcels, events[0], f"{type(exc).__name__}: {exc}")
            return
        await self._drop_recorded_duplicates(parcels)
        if not any(p.events for p in parcels):
            return
        first, second = halves(parcels)
        log.warning(
            "batch of %d events failed on its data (%s); splitting to isolate the bad ones",
            len(events),
            exc,
        )
        await self._commit(first, piece=True)
        await self._commit(second, piece=True)

    async def _drop_recorded_duplicates(self, parcels: list[Parcel]) -> None:
        keys = [p.idempotency_key for p in parcels if p.idempotency_key and not p.key_recorded]
        if not keys:
            return
        seen = await self._retrying(parcels, lambda conn: store.existing_keys(conn, keys))
        for parcel in parcels:
            if parcel.idempotency_key in seen and not parcel.key_recorded:
                self.stats.duplicates += len(parcel.events)
                parcel.events = []

    async def _dead_letter(self, parcels: list[Parcel], event: Event, reason: str) -> None:
        """Keep the event in dead_letters, in the first form the table takes; if none, drop
        it, counted and logged. Only a database away is waited for: a refusal is final."""
        sent = as_sent(event)
        for form in dead_letters.FORMS:
            try:
                record = functools.partial(
                    dead_letters.record, event=sent, reason=reason, document=form(sent)
                )
                await self._retrying(parcels, record, only_away=True)
            except Exception as exc:
                log.warning("dead_letters refused an event %s: %r", form.__name__, exc)
                continue
            self.stats.dead_lettered += 1
            log.error("dead-lettered 1 event: %s", reason)
            return
        self.stats.dropped += 1
        log.error(
            "dropped 1 event: the database refused it (%s), and dead_letters too: %s",
            reason,
            _show(sent),
        )

    async def _back_off(self, attempt: int, exc: BaseException, events: int) -> None:
        self.failing = f"{type(exc).__name__}: {exc}"
        delay = self.backoff.delay(attempt)
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


def _show(event: Event) -> str:
    try:
        text = dead_letters.escaped(event)
    except Exception:  # it is only for the log: say what can be said
        text = repr(event)
    return text[:DROPPED_LOG_CHARS]


def _partition_race(exc: BaseException) -> bool:
    """A row routed to the default partition while a partition for its day was attached
    (or detached): the data is fine, the retry is routed anew."""
    return isinstance(exc, asyncpg.CheckViolationError) and "partition constraint" in str(exc)


WRITER = web.AppKey("writer", BatchWriter)


WRITER_TASK = web.AppKey("writer_task", asyncio.Task[None])
