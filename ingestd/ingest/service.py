"""The ingest service: validated events into the queue, and answers for their senders.

The HTTP handlers (ingest/api.py) and later the ping endpoints all come through here, so
idempotency, backpressure and waiting for the commit are decided in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from aiohttp import web

from ingestd.http.problems import Problem
from ingestd.ingest import sql as queries
from ingestd.ingest.events import Event, EventError, Limits, parse_event
from ingestd.ingest.parcel import Parcel
from ingestd.ingest.payload import Item, Undecodable
from ingestd.ingest.queue import IngestQueue, QueueFull
from ingestd.ingest.ratelimit import RateLimiter, retry_after

RETRY_AFTER_S = 1
#: Rough Python memory per event beyond its JSON text, so the byte bound tracks memory.
EVENT_OVERHEAD_BYTES = 512
MAX_KEY_CHARS = 200
#: A request's answer, and the commit of its events (None when it queued none).
Accepted = tuple[dict[str, Any], "asyncio.Future[None] | None"]


class Ingest:
    def __init__(
        self,
        queue: IngestQueue,
        pool: asyncpg.Pool,
        limits: Limits,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        self.queue = queue
        self.pool = pool
        self.limits = limits
        self.rate_limiter = rate_limiter
        self.rate_limited = 0
        self.accepted = 0
        self.rejected = 0
        # Keyed requests still on their way to the database: a retry racing its original
        # is recognised here, and once committed the database recognises it.
        self._in_flight: dict[str, Parcel] = {}
        # One request per key at a time between "seen before?" and "queued".
        self._key_locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def key_guard(self, key: str) -> AsyncIterator[None]:
        """Hold while checking a key and queueing its events, so concurrent retries of
        one request cannot both pass the check."""
        lock, users = self._key_locks.get(key, (asyncio.Lock(), 0))
        self._key_locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._key_locks[key]
            if users == 1:
                del self._key_locks[key]
            else:
                self._key_locks[key] = (lock, users - 1)

    async def duplicate_answer(self, key: str) -> dict[str, Any] | None:
        """The earlier answer for this Idempotency-Key, marked duplicate, if any."""
        if not key or len(key) > MAX_KEY_CHARS or not key.isprintable():
            raise Problem(
                400,
                "Bad Request",
                f"Idempotency-Key must be 1-{MAX_KEY_CHARS} printable characters",
            )
        parcel = self._in_flight.get(key)
        if parcel is not None:
            answer: dict[str, Any] = orjson.loads(parcel.response)
        else:
            try:
                async with self.pool.acquire() as conn:
                    stored = await conn.fetchval(queries.IDEMPOTENT_RESPONSE, key)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                # Unknown whether it was seen: refusing is safer than storing twice.
                raise Problem(
                    503,
                    "Service Unavailable",
                    "cannot check the Idempotency-Key while the database is unreachable",
                    headers={"Retry-After": str(RETRY_AFTER_S)},
                ) from None
            if stored is None:
                return None
            answer = orjson.loads(stored)
        answer["duplicate"] = True
        return answer

    async def once(
        self, key: str | None, accept: Callable[[str | None], Awaitable[Accepted]]
    ) -> Accepted:
        """`accept(key)` once per Idempotency-Key: a repeat gets the first request's answer,
        with the commit of its events while they are on their way, so a repeat's wait for
        the commit (?wait=commit, pings) still means "in PostgreSQL"."""
        if key is None:
            return await accept(None)
        async with self.key_guard(key):
            earlier = await self.duplicate_answer(key)
            if earlier is None:
                return await accept(key)
            return earlier, self.in_flight(key)

    def in_flight(self, key: str) -> asyncio.Future[None] | None:
        """The commit of the keyed request still on its way to the database, if any."""
        parcel = self._in_flight.get(key)
        return None if parcel is None else parcel.done

    def validate(self, items: list[Item]) -> tuple[list[Event], list[dict[str, Any]]]:
        received_at = datetime.now(UTC)
        limits = self.limits
        events: list[Event] = []
        rejected: list[dict[str, Any]] = []
        for index, value in items:
            if type(value) is Undecodable:
                rejected.append({"index": index, "error": str(value)})
                continue
            try:
                events.append(parse_event(value, received_at, limits))
            except EventError as exc:
                rejected.append({"index": index, "error": str(exc)})
        self.rejected += len(rejected)
        return events, rejected

    async def submit(
        self,
        events: list[Event],
        body_bytes: int,
        response: dict[str, Any],
        *,
        key: str | None = None,
        wait: bool = False,
    ) -> asyncio.Future[None] | None:
        """Queue the events (in spool mode: once on disk); the future (if waited on or keyed)
        resolves once they are committed."""
        parcel = Parcel(
            events,
            body_bytes + EVENT_OVERHEAD_BYTES * len(events),
            key,
            # Kept only to answer a repeat of the same Idempotency-Key.
            orjson.dumps(response) if key is not None else b"",
        )
        if wait or key is not None:
            parcel.done = asyncio.get_running_loop().create_future()
        if len(events) > self.queue.max_events or parcel.nbytes > self.queue.max_bytes:
            raise Problem(
                413, "Payload Too Large", "this request holds more than the queue can ever take"
            )
        try:
            await self.queue.put(parcel)
        except QueueFull as exc:
            raise Problem(
                503,
                "Service Unavailable",
                f"ingestd cannot take more events right now ({exc}); retry later",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            ) from None
        self.accepted += len(events)
        if key is not None and parcel.done is not None:
            self._in_flight[key] = parcel
            parcel.done.add_done_callback(lambda _: self._in_flight.pop(key, None))
        return parcel.done

    def check_rate(self, client: str, events: int) -> None:
        """429 when this client sends faster than its configured rate."""
        if self.rate_limiter is None:
            return
        wait = self.rate_limiter.take(client, events)
        if wait:
            self.rate_limited += events
            raise Problem(
                429,
                "Too Many Requests",
                f"this client sends more than {self.rate_limiter.rate:g} events/s; slow down",
                headers={"Retry-After": retry_after(wait)},
            )

    async def barrier(self) -> asyncio.Future[None]:
        """A future that resolves once everything queued before now is committed."""
        done = await self.submit([], 0, {}, wait=True)
        assert done is not None
        return done


INGEST = web.AppKey("ingest", Ingest)
