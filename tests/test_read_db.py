"""ReadDb, the read side's access to PostgreSQL: an answer in hand is not lost to a connection
that breaks afterwards."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from asyncpg.exceptions._base import InternalClientError

from ingestd.db import database
from ingestd.http.problems import problem_middleware
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


async def _interface_error(dsn: str, *, closed: bool) -> asyncpg.InterfaceError:
    """A real InterfaceError: a query given too many arguments, or a closed connection."""
    conn = await asyncpg.connect(dsn)
    if closed:
        await conn.close()
    try:
        await conn.fetch("SELECT $1::int", 1, 2)
    except asyncpg.InterfaceError as exc:
        return exc
    finally:
        await conn.close()
    raise AssertionError("no InterfaceError")


async def test_only_interface_errors_that_end_the_connection_are_outages(
    new_database: Callable[[], Awaitable[str]],
) -> None:
    dsn = await new_database()
    misuse = await _interface_error(dsn, closed=False)
    gone = await _interface_error(dsn, closed=True)
    assert not database.connection_gone(misuse)
    assert database.error_kind(misuse) is database.ErrorKind.BUG
    assert database.connection_gone(gone)
    assert database.error_kind(gone) is database.ErrorKind.AWAY


async def test_a_misused_query_is_a_logged_500_and_a_closed_pool_a_503(
    new_database: Callable[[], Awaitable[str]], caplog: pytest.LogCaptureFixture
) -> None:
    pool = await database.create_pool(await new_database(), 2)
    reads = ReadDb(pool, slots=1)

    async def misused(request: web.Request) -> web.Response:
        await reads.fetch("SELECT $1::int", 1, 2)  # one argument too many: a bug
        return web.Response()

    async def plain(request: web.Request) -> web.Response:
        await reads.fetch("SELECT 1")
        return web.Response()

    app = web.Application(middlewares=[problem_middleware])
    app.router.add_get("/misused", misused)
    app.router.add_get("/plain", plain)
    async with TestClient(TestServer(app)) as client:
        try:
            answer = await client.get("/misused")
            assert answer.status == 500
            assert answer.content_type == "application/problem+json"
            logged = [r for r in caplog.records if r.name == "ingestd.http"]
            assert logged and logged[0].exc_info is not None
            assert isinstance(logged[0].exc_info[1], asyncpg.InterfaceError)
        finally:
            await pool.close()
        answer = await client.get("/plain")  # the pool is gone: an outage
        assert answer.status == 503
        assert "unreachable" in (await answer.json(content_type=None))["detail"]
