"""Migrations, partitions, and the schema's promises (Citus-ready)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from ingestd.db import database


@pytest.fixture
async def conn(new_database: Callable[..., Awaitable[str]]) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(await new_database(empty=True))
    yield connection
    await connection.close()


async def test_migrations_apply_once_and_are_recorded(conn: asyncpg.Connection) -> None:
    applied = await database.migrate(conn)
    assert applied == [name for _, name, _ in database.migrations()]
    assert await database.migrate(conn) == []
    versions = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
    assert [r["version"] for r in versions] == [v for v, _, _ in database.migrations()]


async def test_runs_are_vacuumed_after_migrating(conn: asyncpg.Connection) -> None:
    # 007 rewrites runs (a generated column): until a VACUUM, its visibility map is empty
    # and the index-only scans of the stats read the table for every run.
    await database.migrate(conn)
    vacuumed = await conn.fetchval(
        "SELECT last_vacuum IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'runs'"
    )
    assert vacuumed


async def test_two_replicas_migrating_at_once_apply_each_migration_once(
    new_database: Callable[..., Awaitable[str]],
) -> None:
    dsn = await new_database(empty=True)
    a, b = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        results = await asyncio.gather(database.migrate(a), database.migrate(b))
    finally:
        await a.close()
        await b.close()
    assert sorted(len(r) for r in results) == [0, len(database.migrations())]


async def test_partitions_are_created_ahead_and_stray_rows_moved_in(
    conn: asyncpg.Connection,
) -> None:
    await database.migrate(conn)
    today = datetime.now(UTC).date()
    created = await database.ensure_partitions(conn, database.partition_days(today, 2))
    assert created == [database.partition_name(today + timedelta(days=d)) for d in (-1, 0, 1, 2)]
    assert await database.ensure_partitions(conn, database.partition_days(today, 2)) == []

    # A row from a skewed clock lands in the default partition ...
    future = datetime.now(UTC) + timedelta(days=10)
    await conn.execute(
        "INSERT INTO logs (ts, received_at, levelno, run_id, message) "
        "VALUES ($1, now(), 20, gen_random_uuid(), 'from the future')",
        future,
    )
    assert await conn.fetchval("SELECT count(*) FROM logs_default") == 1
    # ... and moves into its day's partition once that is created.
    await database.ensure_partitions(conn, [future.date()])
    name = database.partition_name(future.date())
    assert await conn.fetchval("SELECT count(*) FROM logs_default") == 0
    assert await conn.fetchval(f"SELECT count(*) FROM {name}") == 1
    assert await conn.fetchval("SELECT count(*) FROM logs") == 1


async def test_runs_attrs_keep_statistics_fine_enough_for_rare_values(
    conn: asyncpg.Connection,
) -> None:
    """Migration 006: attr filters on runs are planned from 1,000 common values, not 100."""
    await database.migrate(conn)
    target = await conn.fetchval(
        "SELECT attstattarget FROM pg_attribute WHERE attrelid = 'runs'::regclass "
        "AND attname = 'attrs'"
    )
    assert target == 1000


async def test_schema_is_citus_ready(conn: asyncpg.Connection) -> None:
    """One distribution key (run_id) in every unique constraint; no FK between the two."""
    await database.migrate(conn)
    foreign = await conn.fetchval(
        "SELECT count(*) FROM pg_constraint WHERE contype = 'f' "
        "AND conrelid IN ('runs'::regclass, 'logs'::regclass)"
    )
    assert foreign == 0
    unique = await conn.fetch(
        """SELECT c.relname, pg_get_indexdef(i.indexrelid) AS def
           FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
           WHERE i.indisunique AND c.relname IN ('runs', 'logs')"""
    )
    assert unique
    for row in unique:
        assert "run_id" in row["def"], row["def"]
