"""ReadDb, the read side's access to PostgreSQL: an answer in hand is not lost to a connection
that breaks afterwards."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from asyncpg.exceptions._base import InternalClientError

from ingestd.db import database
from ingestd.read.db import ReadDb
from tests.faulty_pool import BreaksAfterCommit


async def test_a_read_whose_connection_breaks_afterwards_still_answers(
    new_database: Callable[[], Awaitable[str]],
) -> None:
    pool = await database.create_pool(await new_database(), 2)
    try:
        confused = InternalClientError("cannot switch to state 15; another operation (2)")
        faulty = BreaksAfterCommit(pool, "release", confused)
        reads = ReadDb(faulty, slots=1)  # type: ignore[arg-type]
        rows = await reads.fetch("SELECT 41 + 1 AS answer")
        assert faulty.broken
        assert rows[0]["answer"] == 42
        row = await reads.fetchrow("SELECT 'still serving' AS state")
        assert row is not None and row["state"] == "still serving"
    finally:
        await pool.close()
