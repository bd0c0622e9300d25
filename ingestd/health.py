"""Liveness and readiness, for orchestrators and load balancers (no auth)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from ingestd.db.database import POOL, SCHEMA_READY
from ingestd.http.problems import Problem
from ingestd.http.responses import json_response
from ingestd.ingest.writer import WRITER, WRITER_TASK

routes = web.RouteTableDef()
READY_CHECK_TIMEOUT_S = 2.0


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    app = request.app
    task = app.get(WRITER_TASK)
    if task is None or task.done():
        raise Problem(503, "Not Ready", "the writer is not running")
    if not app[SCHEMA_READY].is_set():
        raise Problem(503, "Not Ready", "the database schema is not ready yet (see the log)")
    failing = app[WRITER].failing
    if failing is not None:
        raise Problem(503, "Not Ready", f"database writes are failing: {failing}")
    try:
        async with asyncio.timeout(READY_CHECK_TIMEOUT_S):
            async with app[POOL].acquire() as conn:
                await conn.fetchval("SELECT 1")
    except Exception as exc:
        raise Problem(503, "Not Ready", f"the database is unreachable: {exc!r}") from None
    return json_response({"status": "ready"})
