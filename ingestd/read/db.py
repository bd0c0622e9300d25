"""Read queries on the shared pool, bounded so they never starve the writer.

Reads take at most `pool size - 1` connections at once, so the batch writer always finds
one; a query running past READ_TIMEOUT_S is cancelled and answered with a 503 that says
how to narrow it, and an unreachable database is a 503 too, not a trace.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from aiohttp import web

from ingestd.db.database import Conn, connection_gone, pooled
from ingestd.http.problems import Problem
from ingestd.read import sql

READ_TIMEOUT_S = 30.0


class ReadDb:
    def __init__(self, pool: asyncpg.Pool, slots: int, timeout_s: float = READ_TIMEOUT_S) -> None:
        self.pool = pool
        self.timeout_s = timeout_s
        self._slots = asyncio.Semaphore(max(1, slots))
        self._search: str | None = None

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with self.connection() as conn:
            return await conn.fetch(sql, *args, timeout=self.timeout_s)

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        async with self.connection() as conn:
            return await conn.fetchrow(sql, *args, timeout=self.timeout_s)

    async def search_fragment(self) -> str:
        """The message search condition this server runs fastest (asked once)."""
        if self._search is None:
            async with self.connection() as conn:
                try:
                    await conn.fetchval(sql.HAS_FAST_SEARCH)
                    self._search = sql.LOG_SEARCH_FAST
                except asyncpg.PostgresError:  # older server, or not a UTF-8 database
                    self._search = sql.LOG_SEARCH
        return self._search

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Conn]:
        """A pooled connection within the read budget; timeouts and outages become 503s."""
        async with self._slots:
            try:
                async with pooled(self.pool, self.timeout_s) as conn:
                    yield conn
            except Exception as exc:
                # Only an outage is a 503; a bug (asyncpg's InterfaceError for a misused
                # query, say) goes on to be a logged 500, not hidden as "unreachable".
                if isinstance(exc, asyncpg.QueryCanceledError) or connection_gone(exc):
                    raise _as_problem(exc) from exc
                raise


def _as_problem(exc: BaseException) -> Problem:
    if isinstance(exc, TimeoutError | asyncpg.QueryCanceledError):
        return Problem(
            503,
            "Query Timeout",
            "the query took too long and was cancelled; narrow it with since/until or filters",
            headers={"Retry-After": "5"},
        )
    return Problem(
        503,
        "Service Unavailable",
        f"the database is unreachable ({type(exc).__name__})",
        headers={"Retry-After": "2"},
    )


#: Read queries, bounded so they leave the writer a connection.
READ_DB = web.AppKey("read_db", ReadDb)
