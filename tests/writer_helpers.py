"""Helpers for tests of the batch writer on its own: a migrated pool, and parcels written by
a BatchWriter straight from a queue (import the `pool` fixture into a test module)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import asyncpg
import pytest

from ingestd.db import database
from ingestd.ingest.events import Event
from ingestd.ingest.parcel import Parcel
from ingestd.ingest.queue import IngestQueue
from ingestd.ingest.writer import BatchWriter

#: Longer than any write of these tests takes, even on a busy machine: a writer that has not
#: finished by then is retrying for good.
WRITE_TIMEOUT_S = 60


@pytest.fixture
async def pool(new_database: Callable[[], Awaitable[str]]) -> AsyncIterator[asyncpg.Pool]:
    pool = await database.create_pool(await new_database(), 4)
    async with pool.acquire() as conn:
        await database.migrate(conn)
        await database.ensure_partitions(conn, database.partition_days(datetime.now(UTC), 1))
    yield pool
    await pool.close()


async def write(pool: asyncpg.Pool, *parcels: Parcel, max_events: int = 1000) -> BatchWriter:
    """Write the parcels (batches of up to max_events) and wait until the writer is done."""
    queue = IngestQueue(10**6, 10**9)
    for parcel in parcels:
        await queue.put(parcel)
    queue.close()
    batch_writer = BatchWriter(
        pool, queue, batch_max_events=max_events, batch_max_wait_s=0, max_backoff_s=0.05
    )
    await asyncio.wait_for(batch_writer.run(), WRITE_TIMEOUT_S)
    return batch_writer


def raw_parcel(*events: Event) -> Parcel:
    """A parcel of events as given: not validated, as if something got past validation."""
    return Parcel(list(events), 100 * len(events))
