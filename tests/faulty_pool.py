"""A real pool whose connection fails right after its work: faults a stop of PostgreSQL
causes only now and then, made certain (a helper, not a conftest)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from asyncpg import Record
from asyncpg.pool import PoolConnectionProxy


class BreaksAfterCommit:
    """The real pool and connections, but the first batch's connection fails right after its
    COMMIT went through, as seen when PostgreSQL stopped mid-stream (tests/test_faults.py,
    about one run in ten under load): asyncpg raised InternalClientError, there from the
    pool's reset of the connection. `where` the error surfaces: at "release" (the pool's
    reset), or at "commit" (the COMMIT answered with `error`, a connection error or one
    nobody classified). Injected at the driver's edge: no timing of a real stop makes any
    of these certain."""

    def __init__(self, pool: asyncpg.Pool, where: str, error: Exception) -> None:
        self.pool, self.where, self.error, self.broken = pool, where, error, False

    def acquire(self, **options: Any) -> _Acquire:
        """Awaited, or used with `async with`, as asyncpg's pool allows."""
        return _Acquire(self, options)

    async def _connection(self, options: dict[str, Any]) -> Any:
        conn = await self.pool.acquire(**options)
        return conn if self.broken or self.where != "commit" else _CommitBreaks(conn, self)

    async def release(self, conn: Any) -> None:
        await self.pool.release(getattr(conn, "real", conn))
        if not self.broken and self.where == "release":
            self._break()

    def _break(self) -> None:
        self.broken = True
        raise self.error


class _Acquire:
    def __init__(self, faults: BreaksAfterCommit, options: dict[str, Any]) -> None:
        self.faults, self.options, self.conn = faults, options, None

    def __await__(self) -> Any:
        return self.faults._connection(self.options).__await__()

    async def __aenter__(self) -> Any:
        self.conn = await self.faults._connection(self.options)
        return self.conn

    async def __aexit__(self, *exc: object) -> None:
        await self.faults.release(self.conn)


class _CommitBreaks:
    def __init__(self, real: PoolConnectionProxy[Record], faults: BreaksAfterCommit) -> None:
        self.real, self.faults = real, faults

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        async with self.real.transaction():
            yield
        if not self.faults.broken:
            self.faults._break()
