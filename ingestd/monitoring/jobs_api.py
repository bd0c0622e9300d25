"""A job's settings over HTTP: PUT (admin), GET (read), DELETE (admin) /v1/jobs/{job}.

PUT replaces the whole document (fields left out take their defaults) and answers with it
as GET does: the settings, plus the job's health and stuck run as GET /v1/jobs shows them.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web

from ingestd.db.database import Conn
from ingestd.http.auth import granted, requires
from ingestd.http.problems import Problem
from ingestd.http.responses import json_response
from ingestd.ingest.payload import read_body
from ingestd.monitoring import job_settings, sql
from ingestd.monitoring.clock import CLOCK
from ingestd.monitoring.job_settings import JobSettings, SettingsInvalid
from ingestd.monitoring.setup import connection
from ingestd.monitoring.stuck import stuck_runs
from ingestd.monitoring.verdicts import job_standing
from ingestd.settings import SETTINGS

log = logging.getLogger("ingestd.monitor")
routes = web.RouteTableDef()

MAX_JOB_CHARS = 200


def _job(request: web.Request) -> str:
    job = request.match_info["job"]
    if not job or len(job) > MAX_JOB_CHARS or "\x00" in job:
        raise Problem(400, "Bad Request", f"a job name is 1-{MAX_JOB_CHARS} characters")
    return job


async def _document(conn: Conn, job: str, now: datetime, *, redact: bool) -> dict[str, Any] | None:
    row = await conn.fetchrow(sql.GET_JOB, job)
    has_run = bool(await conn.fetchval(sql.JOB_HAS_RUNS, job))
    if row is None and not has_run:
        return None
    settings, warnings = (
        job_settings.read_stored(row) if row is not None else (JobSettings(job), [])
    )
    for warning in warnings:
        log.warning("job %r: %s", job, warning)
    last_ended = await conn.fetchval(sql.JOB_LAST_ENDED, job)
    # Judged as GET /v1/jobs judges it (stuck included), at the monitor's clock.
    standing = job_standing(
        row["health"] if row else None,
        last_ended,
        scheduled=settings.schedule is not None,
        has_run=has_run,
        stuck_run=(await stuck_runs(conn, now, job)).get(job),
    )
    return {
        **settings.view(redact=redact),
        **({"warnings": warnings} if warnings else {}),
        "configured": row is not None,
        "health": standing["health"],
        "stuck": standing["stuck"],
        "health_since": row["health_since"] if row else None,
        "due_at": row["due_at"] if row else None,
        "updated_at": row["updated_at"] if row else None,
    }


@routes.put("/v1/jobs/{job}")
@requires("admin")
async def put_job(request: web.Request) -> web.Response:
    job = _job(request)
    body = await read_body(request, request.app[SETTINGS].max_body_bytes)
    try:
        document = orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise Problem(400, "Bad Request", f"the body is not valid JSON: {exc}") from None
    try:
        allow_private = request.app[SETTINGS].webhook_allow_private
        settings = job_settings.parse(job, document, allow_private=allow_private)
    except SettingsInvalid as exc:
        raise Problem(400, "Bad Request", str(exc)) from None
    async with connection(request) as conn:
        created = await conn.fetchval(
            sql.PUT_JOB, *job_settings.row_values(settings), request.app[CLOCK].now()
        )
        answer = await _document(conn, job, request.app[CLOCK].now(), redact=False)  # admin's
    return json_response(answer, 201 if created else 200)


@routes.get("/v1/jobs/{job}")
@requires("read")
async def get_job(request: web.Request) -> web.Response:
    job = _job(request)
    async with connection(request) as conn:
        # Webhook URLs often hold their secret: only who may change them sees them whole.
        now = request.app[CLOCK].now()
        answer = await _document(conn, job, now, redact=not granted(request, "admin"))
    if answer is None:
        raise Problem(404, "Not Found", f"no job {job!r}: it has no settings and no runs")
    return json_response(answer)


@routes.delete("/v1/jobs/{job}")
@requires("admin")
async def delete_job(request: web.Request) -> web.Response:
    """Forget the settings (the job's runs and logs stay); it is then watched by defaults."""
    job = _job(request)
    async with connection(request) as conn:
        status = await conn.execute(sql.DELETE_JOB, job)
    return json_response({"deleted": int(status.split()[-1])})
