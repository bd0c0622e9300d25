"""Helpers for the read API tests: a served ingestd holding data shaped like the seeds'.

`seeded` (module-scoped: import it into a test module) starts ingestd with tokens on a fresh
database and sends, through POST /v1/events, runs of four jobs like the seeds' (call syncing
with steps and counters, ATM terminals, profile upkeep with integer profile ids, imports with
progress) plus logs that belong to no run. Times are relative to when it was built.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest
from aiohttp.test_utils import TestServer

from ingestd.app import create_app
from ingestd.db.database import SCHEMA_READY
from ingestd.http.auth import parse_tokens
from ingestd.settings import Settings
from tests.conftest import TOKENS_TEXT, Served, dsn_for
from tests.pgcluster import ThrowawayCluster

READ = {"Authorization": "Bearer read-token"}
ADMIN = {"Authorization": "Bearer admin-token"}
INGEST_ONLY = {"Authorization": "Bearer ingest-token"}


def rid() -> str:
    return str(uuid.uuid4())


def iso(moment: datetime) -> str:
    return moment.isoformat()


FRESH = {**READ, "Cache-Control": "no-cache"}


async def get(server: Served, path: str, expect: int = 200, /, **params: Any) -> Any:
    """GET with the read token; asserts the status and returns the JSON body. `fresh=True`
    bypasses the stats cache (answers of /v1/stats/* and /v1/jobs are kept a few seconds).
    Every other keyword is a query parameter."""
    # `fresh` is taken out of **params (and `expect` is positional only) so that a test may
    # pass a dict of query parameters as **params and still type-check.
    headers = FRESH if params.pop("fresh", False) else READ
    async with server.http.get(path, params=params or None, headers=headers) as answer:
        body = await answer.read()
        assert answer.status == expect, body.decode(errors="replace")
        if expect >= 400:
            assert answer.content_type == "application/problem+json"
        return orjson.loads(body)


async def bad(server: Served, path: str, parameter: str, **params: Any) -> str:
    """Asserts a 400 problem naming `parameter`; returns its detail."""
    problem = await get(server, path, 400, **params)
    assert problem["parameter"] == parameter, problem
    assert problem["status"] == 400
    return str(problem["detail"])


async def send(server: Served, *events: dict[str, Any]) -> None:
    """Send events in one request and wait until they are committed."""
    async with server.http.post(
        "v1/events", data=orjson.dumps(list(events)), headers=INGEST_ONLY
    ) as answer:
        body = await answer.json()
        assert answer.status == 202, body
        assert not body["rejected"], body
    await server.flush()


async def start_server(dsn: str, data_dir: Path, **overrides: Any) -> tuple[Served, TestServer]:
    settings = Settings(
        database_url=dsn, data_dir=data_dir, tokens=parse_tokens(TOKENS_TEXT), **overrides
    )
    app = create_app(settings)
    test_server = TestServer(app, host="127.0.0.1", port=0)
    await test_server.start_server()
    async with asyncio.timeout(30):
        await app[SCHEMA_READY].wait()
    url = str(test_server.make_url("")).rstrip("/")
    http = aiohttp.ClientSession(base_url=url + "/")
    pool = await asyncpg.create_pool(dsn, min_size=0, max_size=2)
    assert pool is not None
    # The daemon creates today's partition just after the schema is ready; a line written
    # while that partition is being attached can fail (reported), so tests start after it.
    today = f"logs_p{datetime.now(UTC):%Y%m%d}"
    for _ in range(3000):  # up to 30 s
        if await pool.fetchval("SELECT to_regclass($1) IS NOT NULL", today):
            break
        await asyncio.sleep(0.01)
    return Served(app, url, http, pool, settings), test_server


async def stop_server(served: Served, test_server: TestServer) -> None:
    await served.http.close()
    await served.db.close()
    await test_server.close()


async def admin_sql(cluster: ThrowawayCluster, statement: str) -> None:
    conn = await asyncpg.connect(cluster.dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def served_database(cluster: ThrowawayCluster) -> AsyncIterator[Served]:
    """ingestd with tokens on a new database of the session cluster, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    await admin_sql(cluster, f'CREATE DATABASE "{name}"')
    data_dir = Path(tempfile.mkdtemp(prefix="ig-read-"))
    served, test_server = await start_server(dsn_for(cluster.dsn, name), data_dir)
    try:
        yield served
    finally:
        await stop_server(served, test_server)
        await admin_sql(cluster, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(data_dir, ignore_errors=True)


@dataclass
class Seeded:
    server: Served
    now: datetime
    #: name -> run_id of the runs below
    runs: dict[str, str] = field(default_factory=dict)


def run_event(run_id: str, **fields: Any) -> dict[str, Any]:
    return {"kind": "run", "run_id": run_id, **fields}


def seed_events(now: datetime) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """The dataset: (name -> run_id, events in the order to send them)."""

    def ago(minutes: float) -> str:
        return iso(now - timedelta(minutes=minutes))

    runs = {
        name: rid()
        for name in (
            "sync_ok_old",
            "sync_failed",
            "sync_ok",
            "atm_t01",
            "atm_t02_failed",
            "profile_1_ok",
            "profile_2_failed",
            "profile_1_warning",
            "profile_1_str",
            "import_running",
        )
    }
    events: list[dict[str, Any]] = []

    def run(
        name: str, job: str, started: float, minutes: float | None, status: str, **more: Any
    ) -> None:
        run_id = runs[name]
        events.append(
            run_event(
                run_id,
                job=job,
                status="running",
                started_at=ago(started),
                trigger=more.pop("trigger", "cron"),
                attrs=more.pop("attrs", {}),
            )
        )
        if minutes is not None:
            events.append(
                run_event(run_id, status=status, finished_at=ago(started - minutes), **more)
            )

    def log(name: str | None, job: str, minutes: float, message: str, **more: Any) -> None:
        event = {"job": job, "ts": ago(minutes), "message": message, **more}
        if name is not None:
            event["run_id"] = runs[name]
        events.append(event)

    # vapi-sync (seed 002): START/FETCH/SAVE/END with counters; one failed on a timeout.
    run(
        "sync_ok_old",
        "vapi-sync",
        60 * 24 * 10,
        2,
        "success",
        counters={"records_fetched": 10, "records_inserted": 10},
    )
    log("sync_ok_old", "vapi-sync", 60 * 24 * 10, "Starting VAPI synchronization", step="START")
    run("sync_failed", "vapi-sync", 120, 1, "error", error={"message": "timeout"})
    log("sync_failed", "vapi-sync", 120, "Starting VAPI synchronization", step="START")
    log("sync_failed", "vapi-sync", 119.5, "Fetching calls from VAPI API...", step="FETCH")
    log(
        "sync_failed",
        "vapi-sync",
        119,
        "Timeout after 30000 ms fetching page 3",
        step="FETCH",
        level="error",
        error={"type": "TimeoutError", "message": "Timeout after 30000 ms"},
    )
    run(
        "sync_ok",
        "vapi-sync",
        60,
        4,
        "success",
        counters={"records_fetched": 120, "records_inserted": 118, "api_cost": 0.42},
    )
    log("sync_ok", "vapi-sync", 60, "Starting VAPI synchronization", step="START")
    log("sync_ok", "vapi-sync", 59, "Fetched 120 calls", step="FETCH", attrs={"count": 120})
    log(
        "sync_ok",
        "vapi-sync",
        58,
        "Timeout after 5000 ms fetching page 7, retrying",
        step="FETCH",
        level="warning",
    )
    log("sync_ok", "vapi-sync", 57, "Saved 118 calls to 100% of tables", step="SAVE")
    log("sync_ok", "vapi-sync", 56, "Sync completed", step="END", level="success")
    # atm-retrieval (seed 001): a terminal per run; authentication errors.
    run(
        "atm_t01", "atm-retrieval", 300, 10, "success", attrs={"terminal_id": "T01", "region": "R1"}
    )
    log(
        "atm_t01",
        "atm-retrieval",
        299,
        "Connected to terminal T01",
        step="CONNECT",
        attrs={"terminal_id": "T01"},
        source={"module": "atm", "line": 42},
    )
    run(
        "atm_t02_failed",
        "atm-retrieval",
        200,
        3,
        "failed",
        attrs={"terminal_id": "T02", "region": "R1"},
    )
    log(
        "atm_t02_failed",
        "atm-retrieval",
        199,
        "Authentication failed for terminal T02: 401",
        step="AUTH",
        level="error",
        attrs={"terminal_id": "T02"},
    )
    log(
        "atm_t02_failed",
        "atm-retrieval",
        198,
        "Authentication failed for terminal T02: 403",
        step="AUTH",
        level="critical",
        attrs={"terminal_id": "T02"},
    )
    # profile-maintenance (seed 000): integer profile ids, outcomes success/failure/warning.
    run(
        "profile_1_ok",
        "profile-maintenance",
        50,
        0.5,
        "success",
        attrs={"profile_id": 1},
        result={"fields_edited": {"headline": "Compassionate Therapist"}},
    )
    run("profile_2_failed", "profile-maintenance", 40, 0.25, "failure", attrs={"profile_id": 2})
    log(
        "profile_2_failed",
        "profile-maintenance",
        40,
        "Profile 'jane_counselor' login failed",
        step="LOGIN",
        level="error",
        attrs={"profile_id": 2},
    )
    run("profile_1_warning", "profile-maintenance", 30, 1, "warning", attrs={"profile_id": 1})
    run(
        "profile_1_str",
        "profile-maintenance",
        20,
        0.75,
        "success",
        attrs={"profile_id": "1"},
        trigger="manual",
    )
    # backup-import (seeds 003/004): still running, with progress and a current step.
    run(
        "import_running",
        "backup-import",
        5,
        None,
        "running",
        attrs={"import_type": "backup", "filename": "backup-2025-06-27.json"},
    )
    events.append(
        run_event(
            runs["import_running"], progress=40, step="PARSE", counters={"records_processed": 400}
        )
    )
    log("import_running", "backup-import", 4, "Parsed 400 of 1000 records", step="PARSE")
    # Logs of no run.
    log(None, "cron-cleanup", 3, "cleaned 12 temp files", level="info")
    log(None, "cron-cleanup", 2, "disk 91% full on /var/lib", level="warning")
    return runs, events


@pytest.fixture(scope="module")
async def seeded(pg_cluster: ThrowawayCluster) -> AsyncIterator[Seeded]:
    """A served ingestd holding the seed-shaped dataset; read-only tests share it."""
    async with served_database(pg_cluster) as served:
        now = datetime.now(UTC).replace(microsecond=0)
        runs, events = seed_events(now)
        await send(served, *events)
        yield Seeded(served, now, runs)


@pytest.fixture
async def empty(pg_cluster: ThrowawayCluster) -> AsyncIterator[Served]:
    """A fresh ingestd with tokens and no data, for tests that write."""
    async with served_database(pg_cluster) as served:
        yield served
