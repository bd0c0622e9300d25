"""The database: connection pool, migrations, and partition upkeep.

Anything that must happen once across replicas sharing one PostgreSQL (migrations,
partition upkeep) runs under a PostgreSQL advisory lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import importlib.resources
import logging
import re
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, date, datetime, timedelta

import asyncpg
from aiohttp import web
from asyncpg.exceptions._base import DataError as ClientDataError
from asyncpg.exceptions._base import InternalClientError
from asyncpg.pool import PoolConnectionProxy

log = logging.getLogger("ingestd.database")

# Advisory lock ids: arbitrary constants, distinct per duty.
MIGRATION_LOCK = 0x1D6E_0001
PARTITION_LOCK = 0x1D6E_0002

_MIGRATION_NAME = re.compile(r"(\d{3})_[a-z0-9_]+\.sql\Z")

#: A connection, from a pool or not.
Conn = asyncpg.Connection | PoolConnectionProxy

#: Errors that mean "the database is not there right now": retry, keep the data.
#: InternalClientError is asyncpg's protocol state gone wrong, as when a connection breaks
#: mid-operation (seen with PostgreSQL stopping): a new connection is the cure.
#: Not asyncpg's InterfaceError: mostly a misuse (the wrong number of query arguments, a
#: released connection used), a bug to be seen; `connection_gone` knows the few that are not.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    InternalClientError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.ConnectionFailureError,
)
#: The InterfaceErrors that say the connection or its pool is gone (asyncpg's wording:
#: Connection._check_open, Pool._check_init), not that it was misused.
_GONE_MESSAGES = ("connection is closed", "pool is closing", "pool is closed")


def connection_gone(exc: BaseException) -> bool:
    """The database, or the connection to it, is away: not the caller's bug."""
    if isinstance(exc, CONNECTION_ERRORS):
        return True
    if isinstance(exc, asyncpg.InterfaceError) and not isinstance(exc, ClientDataError):
        return any(message in str(exc) for message in _GONE_MESSAGES)
    return False


#: Worth retrying: the database is away, or in a state the data is not to blame for. For
#: loops that carry no event (monitor, retention, alerts); the writer sorts errors finer,
#: with error_kind, so that no event can keep it retrying. (InterfaceError: what ends a
#: connection, and asyncpg's own DataError, which the writer's staged path falls back on.)
RETRYABLE_ERRORS: tuple[type[BaseException], ...] = (
    *CONNECTION_ERRORS,
    asyncpg.InterfaceError,
    asyncpg.PostgresError,
)


class ErrorKind(enum.Enum):
    """What an error on a write says about the data written."""

    #: The server or the connection is away or in a state to wait out: retry, keep the data.
    AWAY = "away"
    #: The data itself was refused: isolate the event that is to blame.
    DATA = "data"
    #: The server refused for a reason not sorted here (a trigger's RAISE, a feature not
    #: supported...): worth a few tries, then treated as the data's fault.
    REFUSED = "refused"
    #: Not from the database nor the connection: a bug, ours or the driver's.
    BUG = "bug"


#: SQLSTATE classes of states the data is not to blame for: connection (08), transaction
#: state (25: read-only after a failover), authorization (28), catalog (3D: no database),
#: rollback (40: serialization failure, deadlock), schema or privileges (42: a table
#: missing, a grant revoked), resources (53: disk full, too many connections), object state
#: (55: lock not available), operator intervention (57: shutdown, statement cancelled),
#: system error (58: I/O), configuration (F0), internal error (XX: corruption).
AWAY_CLASSES = frozenset({"08", "25", "28", "3D", "40", "42", "53", "55", "57", "58", "F0", "XX"})
#: SQLSTATE classes of data refused: data exception (22: bad encoding, untranslatable
#: character, out of range), integrity (23: a constraint), program limit (54: too long for
#: an index)...
DATA_CLASSES = frozenset({"22", "23", "54"})
#: ...and single states of a class otherwise taken as AWAY: 42804 datatype_mismatch.
DATA_STATES = frozenset({"42804"})


def error_kind(exc: BaseException) -> ErrorKind:
    """Sort an error raised writing data (SQLSTATE classes, PostgreSQL manual appendix A)."""
    # asyncpg raises its own DataError (an InterfaceError) when it cannot encode a value.
    if isinstance(exc, ClientDataError | UnicodeError):
        return ErrorKind.DATA
    if isinstance(exc, asyncpg.PostgresError):
        state = exc.sqlstate or ""
        if state in DATA_STATES or state[:2] in DATA_CLASSES:
            return ErrorKind.DATA
        if state[:2] in AWAY_CLASSES or isinstance(exc, CONNECTION_ERRORS):
            return ErrorKind.AWAY
        return ErrorKind.REFUSED
    if connection_gone(exc):
        return ErrorKind.AWAY
    return ErrorKind.BUG


async def create_pool(dsn: str, size: int) -> asyncpg.Pool:
    # min_size=0: creating the pool never fails because the database is down; the writer
    # and /readyz find out and say so, and ingestd keeps taking events meanwhile.
    pool = await asyncpg.create_pool(
        dsn,
        min_size=0,
        max_size=size,
        command_timeout=60,
        timeout=5,
        max_inactive_connection_lifetime=300,
        server_settings={"application_name": "ingestd", "timezone": "UTC"},
    )
    assert pool is not None
    return pool


@contextlib.asynccontextmanager
async def pooled(pool: asyncpg.Pool, wait_s: float | None = None) -> AsyncIterator[Conn]:
    """A connection from the pool. Handing it back fails when it broke right after its last
    statement (asyncpg's pool raises while resetting it, then closes it). By then the work
    with it is done, a COMMIT or a read included, or failed on its own: that error is no
    news, and taking it for the work's would, say, write a committed batch again."""
    conn = await pool.acquire(timeout=wait_s)
    try:
        yield conn
    finally:
        try:
            await pool.release(conn)
        except Exception:
            log.debug("a connection broke after its work; the pool closes it", exc_info=True)


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every file in schema/, in order."""
    found = []
    for entry in importlib.resources.files("ingestd.schema").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


async def migrate(conn: Conn) -> list[str]:
    """Apply the migrations not applied yet; safe to run twice and from two replicas."""
    applied_now = []
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version    integer     PRIMARY KEY,
                   name       text        NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, name, sql in migrations():
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name
                )
            log.info("applied migration %s", name)
            applied_now.append(name)
        if applied_now:
            # A migration may rewrite runs (007 added a generated column): that empties its
            # visibility map, and index-only scans read the table for every run until a
            # VACUUM, which autovacuum may not run for hours. Seconds for 200,000 runs.
            await conn.execute("VACUUM (ANALYZE) runs")
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
    return applied_now


def partition_name(day: date) -> str:
    return f"logs_p{day:%Y%m%d}"


def partition_days(today: date, ahead: int) -> Iterable[date]:
    return (today + timedelta(days=offset) for offset in range(-1, ahead + 1))


async def ensure_partitions(conn: Conn, days: Iterable[date]) -> list[str]:
    """Create the daily log partitions that are missing; returns the ones created.

    Rows that landed in the default partition for such a day (a skewed clock) are moved
    into the new partition in the same transaction, so attaching it cannot fail.
    """
    if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", PARTITION_LOCK):
        return []  # another replica is doing it right now
    created = []
    try:
        existing = {
            r["relname"]
            for r in await conn.fetch(
                """SELECT c.relname FROM pg_inherits i
                   JOIN pg_class c ON c.oid = i.inhrelid
                   WHERE i.inhparent = 'logs'::regclass"""
            )
        }
        for day in days:
            name = partition_name(day)
            if name in existing:
                continue
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            end = start + timedelta(days=1)
            async with conn.transaction():
                # Identifiers cannot be parameters; the name is built from a date only.
                await conn.execute(f"CREATE TABLE {name} (LIKE logs INCLUDING DEFAULTS)")
                await conn.execute(
                    f"""WITH moved AS (
                            DELETE FROM logs_default WHERE ts >= $1 AND ts < $2 RETURNING *)
                        INSERT INTO {name} SELECT * FROM moved""",
                    start,
                    end,
                )
                await conn.execute(
                    f"ALTER TABLE logs ATTACH PARTITION {name} "
                    f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
                )
            created.append(name)
            log.info("created log partition %s", name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", PARTITION_LOCK)
    return created


async def expire_dedup_keys(conn: Conn, older_than: timedelta) -> int:
    """Forget idempotency keys and event ids past the window in which retries happen."""
    cutoff = datetime.now(UTC) - older_than
    deleted = 0
    for table in ("idempotency_keys", "event_ids"):
        status = await conn.execute(f"DELETE FROM {table} WHERE created_at < $1", cutoff)
        deleted += int(status.split()[-1])
    # Checkpoints of processes long gone (a spool's own is kept: it may come back).
    status = await conn.execute(
        "DELETE FROM writer_checkpoints WHERE writer_id LIKE 'boot-%' AND updated_at < $1", cutoff
    )
    return deleted + int(status.split()[-1])


POOL = web.AppKey("pool", asyncpg.Pool)


#: Set once migrations are applied; the writer waits for it.
SCHEMA_READY = web.AppKey("schema_ready", asyncio.Event)
