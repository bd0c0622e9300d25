"""Helpers for the monitoring tests: a real webhook receiver, ticks, runs, job settings."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ingestd.app import create_app
from ingestd.db.database import SCHEMA_READY
from ingestd.monitoring.alerts import DISPATCHER
from ingestd.monitoring.clock import CLOCK
from ingestd.monitoring.monitor import MONITOR
from ingestd.settings import Settings
from tests.conftest import Served, dsn_for
from tests.pgcluster import ThrowawayCluster

DEADLINE_S = 10.0


class Receiver:
    """A webhook endpoint on 127.0.0.1 that records what it is sent; it can be told to
    answer 500 to the next N requests."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.attempts = 0
        self.fail_next = 0
        self.url = ""
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/hook"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _hook(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        async with self._changed:
            self.attempts += 1
            if self.fail_next:
                self.fail_next -= 1
                self._changed.notify_all()
                return web.Response(status=500, text="receiver down")
            self.received.append(body)
            self._changed.notify_all()
        return web.Response(text="ok")

    async def wait_for(self, count: int, *, attempts: bool = False) -> list[dict[str, Any]]:
        """Wait (bounded) until `count` alerts (or attempts) have arrived."""
        async with asyncio.timeout(DEADLINE_S), self._changed:
            await self._changed.wait_for(
                lambda: (self.attempts if attempts else len(self.received)) >= count
            )
        return self.received


@contextlib.asynccontextmanager
async def served(cluster: ThrowawayCluster, **overrides: Any) -> AsyncIterator[Served]:
    """ingestd on a new database of the session cluster, for a module's tests to share."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(cluster.dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = dsn_for(cluster.dsn, name)
    data_dir = Path(tempfile.mkdtemp(prefix="ig-mon-"))
    settings = Settings(database_url=dsn, data_dir=data_dir, **overrides)
    app = create_app(settings)
    test_server = TestServer(app, host="127.0.0.1", port=0)
    await test_server.start_server()
    http = pool = None
    try:
        async with asyncio.timeout(30):
            await app[SCHEMA_READY].wait()
        url = str(test_server.make_url("")).rstrip("/")
        http = aiohttp.ClientSession(base_url=url + "/")
        pool = await asyncpg.create_pool(dsn, min_size=0, max_size=2)
        assert pool is not None
        await today_partition(pool)
        yield Served(app, url, http, pool, settings)
    finally:
        if http is not None:
            await http.close()
        if pool is not None:
            await pool.close()
        await test_server.close()
        admin = await asyncpg.connect(cluster.dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
        shutil.rmtree(data_dir, ignore_errors=True)


async def today_partition(pool: asyncpg.Pool) -> None:
    """Wait until the daemon has made today's log partition (it does so just after start)."""
    today = f"logs_p{datetime.now(UTC):%Y%m%d}"
    async with asyncio.timeout(DEADLINE_S):
        while True:
            if await pool.fetchval("SELECT to_regclass($1) IS NOT NULL", today):
                return
            await asyncio.sleep(0.01)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = Receiver()
    await hook.start()
    yield hook
    await hook.stop()


async def eventually(check: Callable[[], bool]) -> None:
    """Wait (bounded) until `check()` holds: for what background tasks do on their own."""
    async with asyncio.timeout(DEADLINE_S):
        while True:
            if check():
                return
            await asyncio.sleep(0.01)


def freeze(server: Served, when: datetime | None = None) -> datetime:
    """Stop the server's clock (at `when`, or now) and return where it stands."""
    clock = server.app[CLOCK]
    clock.set(when or clock.now())
    return clock.now()


def advance(server: Served, **by: float) -> datetime:
    server.app[CLOCK].advance(timedelta(**by))
    return server.app[CLOCK].now()


async def tick(server: Served) -> None:
    """One monitor tick that acted (retrying while another tick holds the lock)."""
    async with asyncio.timeout(DEADLINE_S):
        while True:
            if await server.app[MONITOR].tick():
                return
            await asyncio.sleep(0.01)


async def deliver(server: Served) -> int:
    return await server.app[DISPATCHER].deliver_due()


async def put_job(server: Served, job: str, **settings: Any) -> dict[str, Any]:
    async with server.http.put(f"v1/jobs/{job}", data=orjson.dumps(settings)) as answer:
        assert answer.status in (200, 201), await answer.text()
        document: dict[str, Any] = await answer.json()
    return document


async def send(server: Served, *events: dict[str, Any]) -> None:
    """POST events and wait for their commit."""
    async with server.http.post("v1/events?wait=commit", data=orjson.dumps(list(events))) as answer:
        assert answer.status == 200, await answer.text()


def run(
    job: str,
    started_at: datetime,
    *,
    status: str = "success",
    seconds: float | None = 60,
    run_id: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A run event: started at `started_at`, finished `seconds` later unless None."""
    event: dict[str, Any] = {
        "kind": "run",
        "run_id": run_id or str(uuid.uuid4()),
        "job": job,
        "status": status,
        "started_at": started_at.isoformat(),
        **fields,
    }
    if seconds is not None:
        event["finished_at"] = (started_at + timedelta(seconds=seconds)).isoformat()
    return event


async def alerts(server: Served, **params: str) -> list[dict[str, Any]]:
    async with server.http.get("v1/alerts", params=params) as answer:
        assert answer.status == 200, await answer.text()
        items: list[dict[str, Any]] = (await answer.json())["items"]
    return items


async def job(server: Served, name: str) -> dict[str, Any]:
    async with server.http.get(f"v1/jobs/{name}") as answer:
        assert answer.status == 200, await answer.text()
        document: dict[str, Any] = await answer.json()
    return document
