"""What runs beside the HTTP server, started and stopped through aiohttp's cleanup_ctx.

Order matters: the database first, the writer second, so on the way out the writer drains
the queue into PostgreSQL before the pool closes (and, after the app, the embedded server
stops).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from aiohttp import web

from ingestd.background import spawn
from ingestd.db import database
from ingestd.db.database import POOL, SCHEMA_READY
from ingestd.http.problems import Problem
from ingestd.ingest import store
from ingestd.ingest.events import Limits
from ingestd.ingest.queue import IngestQueue
from ingestd.ingest.ratelimit import RateLimiter
from ingestd.ingest.service import INGEST, Ingest
from ingestd.ingest.spool import Spool
from ingestd.ingest.writer import WRITER, WRITER_TASK, BatchWriter
from ingestd.metrics import METRICS
from ingestd.retry import Backoff
from ingestd.settings import SETTINGS

log = logging.getLogger("ingestd")

UPKEEP_INTERVAL_S = 3600
UPKEEP_RETRY_FIRST_S = 0.5
UPKEEP_RETRY_MAX_S = 30.0
DEDUP_WINDOW = timedelta(days=7)
POOL_CLOSE_TIMEOUT_S = 3.0
#: A cancelled task talking to a hung server waits there to roll back: wait this long, then
#: go on; the pool's terminate() ends that wait.
CANCEL_WAIT_S = 1.0


async def _upkeep(app: web.Application) -> None:
    """Migrate (retrying while the database is away), then keep partitions ahead."""
    settings = app[SETTINGS]
    pool = app[POOL]
    backoff = Backoff(UPKEEP_RETRY_FIRST_S, UPKEEP_RETRY_MAX_S)
    while True:
        try:
            async with pool.acquire() as conn:
                if not app[SCHEMA_READY].is_set():
                    await database.migrate(conn)
                today = datetime.now(UTC).date()
                await database.ensure_partitions(
                    conn, database.partition_days(today, settings.partitions_ahead_days)
                )
                # The writer starts once today's partitions exist, so its first rows do not
                # race the partitions' creation through the default partition.
                app[SCHEMA_READY].set()
                await database.expire_dedup_keys(conn, DEDUP_WINDOW)
            backoff.reset()
            await asyncio.sleep(UPKEEP_INTERVAL_S)
        except database.RETRYABLE_ERRORS as exc:
            delay = backoff.next()
            log.warning("database upkeep failed, retrying in %.1fs: %r", delay, exc)
            await asyncio.sleep(delay)


async def _spool_checkpoint(app: web.Application, spool_id: str) -> int:
    """Where the spool's committed part ends, retrying while the database is away."""
    backoff = Backoff(UPKEEP_RETRY_FIRST_S, UPKEEP_RETRY_MAX_S)
    while True:
        try:
            async with app[POOL].acquire() as conn:
                return await store.spool_checkpoint(conn, spool_id)
        except database.RETRYABLE_ERRORS as exc:
            delay = backoff.next()
            log.warning("cannot read the spool checkpoint, retrying in %.1fs: %r", delay, exc)
            await asyncio.sleep(delay)


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    # The embedded server, if any, is started before the app and stopped after it
    # (ingestd.startup): the app is always given a DSN.
    if settings.database_url is None:
        raise ValueError("create_app needs settings.database_url")
    app[POOL] = await database.create_pool(settings.database_url, settings.db_pool_size)
    app[SCHEMA_READY] = asyncio.Event()
    upkeep = spawn(_upkeep(app), "upkeep")
    yield
    upkeep.cancel()
    await asyncio.wait({upkeep}, timeout=CANCEL_WAIT_S)
    try:
        await asyncio.wait_for(app[POOL].close(), POOL_CLOSE_TIMEOUT_S)
    except TimeoutError:
        app[POOL].terminate()


async def writer_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    spool = Spool(settings.data_path / "spool", settings.spool_max_bytes)
    await asyncio.to_thread(spool.open)
    queue = IngestQueue(
        settings.queue_max_events,
        settings.queue_max_bytes,
        spool,
        durable=settings.durability == "spool",
        full_wait_s=settings.queue_full_wait_s,
    )
    limits = Limits(settings.max_message_bytes, settings.max_attrs_bytes, settings.max_attrs_depth)
    limiter = None
    if settings.client_rate_limit > 0:
        limiter = RateLimiter(settings.client_rate_limit, settings.client_burst)
    app[INGEST] = Ingest(queue, app[POOL], limits, limiter)
    writer = app[WRITER] = BatchWriter(
        app[POOL],
        queue,
        batch_max_events=settings.batch_max_events,
        batch_max_wait_s=settings.batch_max_wait_ms / 1000,
        max_backoff_s=settings.retry_max_backoff_s,
        on_batch=app[METRICS].observe_batch,
        connections=settings.writer_connections,
    )

    async def write() -> None:
        await app[SCHEMA_READY].wait()
        queue.start_replay(await _spool_checkpoint(app, spool.id))
        await writer.run()

    task = app[WRITER_TASK] = spawn(write(), "writer")
    yield
    queue.close()
    budget = settings.drain_budget_s
    pending = len(queue)
    if pending:
        log.info("draining %d queued events (budget %.1fs)", pending, budget)
    if not app[SCHEMA_READY].is_set() and not pending:
        budget = 0  # nothing to write, and no database to write it to
    try:
        await asyncio.wait_for(asyncio.shield(task), budget)
    except TimeoutError:
        task.cancel()
        await asyncio.wait({task}, timeout=CANCEL_WAIT_S)
    abandoned = writer.current + queue.abandon()
    lost = sum(len(p.events) for p in abandoned if p.origin != spool.id)
    if lost:
        log.error("shutdown budget spent: %d accepted events were not written", lost)
    if spool.durable_end > (queue.disk_cursor or 0):
        log.warning("events left in the spool are written at the next start")
    spool.close()
    for parcel in abandoned:
        if parcel.done is not None and not parcel.done.done():
            parcel.done.set_exception(
                Problem(503, "Service Unavailable", "ingestd stopped before writing the events")
            )
    log.info(
        "writer stopped: %d events committed, %d dead-lettered, %d dropped",
        writer.stats.committed,
        writer.stats.dead_lettered,
        writer.stats.dropped,
    )
