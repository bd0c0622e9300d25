"""Ingest over HTTP: POST /v1/events and runs as REST."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
import orjson
from aiohttp import web

from ingestd.http.auth import client_of, requires
from ingestd.http.problems import Problem, bad_param
from ingestd.http.responses import json_response
from ingestd.ingest import sql as queries
from ingestd.ingest.events import EventError, RunEvent, parse_run, parse_uuid
from ingestd.ingest.models import RunCreate, RunFinish, RunUpdate, field_names
from ingestd.ingest.payload import content_kind, decode, read_body
from ingestd.ingest.service import INGEST, Accepted
from ingestd.read.views import run_view
from ingestd.settings import SETTINGS

routes = web.RouteTableDef()


def _wait_for_commit(request: web.Request) -> bool:
    wait = request.query.get("wait")
    if wait is None:
        return False
    if wait != "commit":
        raise bad_param("wait", f"the only value is 'commit', not {wait!r}")
    return True


async def _accept(request: web.Request, key: str | None, wait: bool) -> Accepted:
    """Read, decode, validate and queue the body's events."""
    ingest = request.app[INGEST]
    kind = content_kind(request)
    body = await read_body(request, request.app[SETTINGS].max_body_bytes)
    events, rejected = ingest.validate(decode(body, kind))
    if not events:
        raise Problem(
            400,
            "Bad Request",
            f"no valid event in the body ({len(rejected)} rejected)",
            errors=rejected[:100],
        )
    if ingest.rate_limiter is not None:
        ingest.check_rate(client_of(request), len(events))
    answer = {"accepted": len(events), "rejected": rejected, "duplicate": False}
    return answer, await ingest.submit(events, len(body), answer, key=key, wait=wait)


@routes.post("/v1/events")
@requires("ingest")
async def post_events(request: web.Request) -> web.Response:
    ingest = request.app[INGEST]
    wait = _wait_for_commit(request)
    key = request.headers.get("Idempotency-Key")
    # A repeat of a request still queued waits, with ?wait=commit, for the original's
    # commit: a 200 always means "in PostgreSQL".
    answer, done = await ingest.once(key, lambda key: _accept(request, key, wait))
    if wait:
        if done is not None:
            await committed(request, done)
        return json_response(answer, 200)
    return json_response(answer, 202)


async def committed(
    request: web.Request, done: asyncio.Future[None], what: str = "the events are"
) -> None:
    """Wait for the commit, within INGESTD_COMMIT_WAIT_S; else a 503 saying `what` is queued."""
    timeout = request.app[SETTINGS].commit_wait_s
    try:
        await asyncio.wait_for(asyncio.shield(done), timeout)
    except TimeoutError:
        raise Problem(
            503,
            "Service Unavailable",
            f"{what} queued but not committed within {timeout:g}s (the database is slow or "
            "away), and will be written. Retry with the same Idempotency-Key to learn the "
            "outcome without storing anything twice.",
            headers={"Retry-After": "5"},
        ) from None


async def _json_object(request: web.Request, *, empty_ok: bool = False) -> dict[str, Any]:
    body = await read_body(request, request.app[SETTINGS].max_body_bytes)
    if not body.strip():
        if empty_ok:
            return {}
        raise Problem(400, "Bad Request", "the body is empty: send a JSON object")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Problem(400, "Bad Request", f"the body is not valid JSON: {exc}") from None
    if type(value) is not dict:
        raise Problem(400, "Bad Request", "the body must be a JSON object")
    return value


def _run_event(
    body: dict[str, Any],
    model: type[msgspec.Struct],
    request: web.Request,
    run_id: str | None = None,
) -> RunEvent:
    """The body as a run event: its fields checked against the model (the schema that
    /v1/openapi.json describes), its values by parse_run, whose reasons name the field."""
    allowed = field_names(model)
    # The path's run id wins over one in the body (as it always has).
    unknown = set(body) - allowed - ({"run_id"} if run_id else set())
    if unknown:
        names = ", ".join(sorted(unknown)[:5])
        raise Problem(
            400, "Bad Request", f"unknown field(s) {names}; allowed: {', '.join(sorted(allowed))}"
        )
    fields = (
        {**body, "kind": "run"} if run_id is None else {**body, "kind": "run", "run_id": run_id}
    )
    try:
        event = parse_run(fields, datetime.now(UTC), request.app[INGEST].limits)
    except EventError as exc:
        raise Problem(400, "Bad Request", str(exc)) from None
    try:
        # What parse_run took must fit the documented schema too, so the two cannot drift.
        msgspec.convert({k: v for k, v in body.items() if k in allowed}, model)
    except msgspec.ValidationError as exc:
        raise Problem(
            400, "Bad Request", f"the body does not fit {model.__name__}: {exc}"
        ) from None
    return event


async def _commit_and_show(request: web.Request, event: RunEvent, status: int) -> web.Response:
    ingest = request.app[INGEST]
    done = await ingest.submit([event], 0, {}, wait=True)
    assert done is not None
    await committed(request, done)
    async with ingest.pool.acquire() as conn:
        row = await conn.fetchrow(queries.GET_RUN, event.run_id)
    assert row is not None  # just committed
    return json_response(run_view(row), status)


def _path_run_id(request: web.Request) -> str:
    try:
        return parse_uuid(request.match_info["run_id"], "run_id")
    except EventError as exc:
        raise bad_param("run_id", str(exc)) from None


async def _require_run(request: web.Request, run_id: str) -> None:
    ingest = request.app[INGEST]
    # A run created by events still queued counts as existing.
    await committed(request, await ingest.barrier())
    async with ingest.pool.acquire() as conn:
        if await conn.fetchval("SELECT 1 FROM runs WHERE run_id = $1", run_id) is None:
            raise Problem(404, "Not Found", f"no run {run_id}")


@routes.post("/v1/runs")
@requires("ingest")
async def create_run(request: web.Request) -> web.Response:
    fields = await _json_object(request)
    if not isinstance(fields.get("job"), str) or not fields["job"]:
        raise Problem(400, "Bad Request", "job is required: a non-empty string")
    fields.setdefault("run_id", str(uuid.uuid4()))
    fields.setdefault("status", "running")
    event = _run_event(fields, RunCreate, request)
    if event.started_at is None:
        event.started_at = event.ts
    return await _commit_and_show(request, event, 201)


@routes.patch("/v1/runs/{run_id}")
@requires("ingest")
async def patch_run(request: web.Request) -> web.Response:
    run_id = _path_run_id(request)
    fields = await _json_object(request, empty_ok=True)  # empty: a heartbeat
    event = _run_event(fields, RunUpdate, request, run_id)
    await _require_run(request, run_id)
    return await _commit_and_show(request, event, 200)


@routes.post("/v1/runs/{run_id}/finish")
@requires("ingest")
async def finish_run(request: web.Request) -> web.Response:
    run_id = _path_run_id(request)
    fields = await _json_object(request)
    if "status" not in fields:
        raise Problem(400, "Bad Request", "status is required to finish a run")
    event = _run_event(fields, RunFinish, request, run_id)
    await _require_run(request, run_id)
    return await _commit_and_show(request, event, 200)
