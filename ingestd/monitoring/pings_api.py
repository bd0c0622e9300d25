"""Pings, for shell scripts and cron lines: `curl -fsS "$URL/ping/backup/$?"`.

GET or POST /ping/{job} (success), /start, /fail, /log, /{exit_code}; `?rid=` pairs a
start with its end; `?token=` may carry the token. Without rid, an end closes the job's
latest running run, or records a run that starts and ends at once. A body is text: each
line becomes a log line of the run. The events go through the same ingest path as
POST /v1/events (validation, queue, writer, Idempotency-Key) and the answer, the run id as
text, comes once they are committed. HEAD records nothing: it is answered 405.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, NamedTuple

from aiohttp import web

from ingestd.db.database import POOL
from ingestd.http.auth import client_of, requires
from ingestd.http.problems import Problem, bad_param
from ingestd.ingest.api import committed
from ingestd.ingest.events import MAX_NAME_CHARS, Event, EventError, parse_event, parse_uuid
from ingestd.ingest.payload import read_body
from ingestd.ingest.service import INGEST, Accepted
from ingestd.monitoring.clock import CLOCK
from ingestd.monitoring.sql import ACTIVE
from ingestd.settings import SETTINGS

routes = web.RouteTableDef()

#: Lines of one body stored at most: the last ones, which say how a script ended.
MAX_LINES = 10_000
MAX_EXIT_CODE = 255
LATEST_ACTIVE_RUN = f"""
SELECT run_id::text FROM runs WHERE status IN {ACTIVE} AND job = $1
ORDER BY started_at DESC, run_id DESC LIMIT 1
"""


def _action(name: str | None) -> tuple[str, str | None, int | None]:
    """(kind, final status, exit code) of a ping's last path segment."""
    if name is None:
        return "end", "success", None
    if name in ("start", "log"):
        return name, None, None
    if name == "fail":
        return "end", "failed", None
    if name.isdigit() and int(name) <= MAX_EXIT_CODE:
        code = int(name)
        return "end", "success" if code == 0 else "failed", code
    raise Problem(
        404,
        "Not Found",
        f"unknown ping {name!r}: use start, fail, log or an exit code from 0 to {MAX_EXIT_CODE}",
    )


def body_lines(body: bytes) -> list[str]:
    """The body's text lines, blank ones at either end left out, at most MAX_LINES."""
    lines = body.decode("utf-8", "replace").strip("\r\n").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    if len(lines) > MAX_LINES:
        cut = len(lines) - MAX_LINES + 1
        lines = [f"… {cut} earlier lines not stored", *lines[cut:]]
    return lines


def _job(request: web.Request) -> str:
    """The job named in the path, refused here if no event could carry it unchanged."""
    job = request.match_info["job"]
    if len(job) > MAX_NAME_CHARS:
        raise Problem(400, "Bad Request", f"the job name is over {MAX_NAME_CHARS} characters")
    if "\x00" in job:  # PostgreSQL cannot compare text with U+0000
        raise Problem(400, "Bad Request", "the job name must not contain NUL characters")
    return job


async def _latest_active_run(request: web.Request, job: str) -> str | None:
    async with request.app[POOL].acquire() as conn:
        run_id: str | None = await conn.fetchval(LATEST_ACTIVE_RUN, job)
    return run_id


def _run_event(fields: dict[str, Any], now: datetime, request: web.Request) -> Event:
    return _parse({"kind": "run", **fields}, now, request)


def _parse(obj: dict[str, Any], now: datetime, request: web.Request) -> Event:
    try:
        return parse_event(obj, now, request.app[INGEST].limits)
    except EventError as exc:
        raise Problem(400, "Bad Request", str(exc)) from None


# Not HEAD (aiohttp adds it to every GET route): a HEAD must not record anything, and
# answering 200 without recording would tell `curl -I` the ping was taken. So 405.
@routes.get("/ping/{job}", allow_head=False)
@routes.post("/ping/{job}")
@routes.get("/ping/{job}/{action}", allow_head=False)
@routes.post("/ping/{job}/{action}")
@requires("ingest", query_token=True)
async def ping(request: web.Request) -> web.Response:
    # With an Idempotency-Key (as on POST /v1/events), a retried ping (curl --retry after a
    # timeout or a 503) is stored once and answers the run id of the first.
    ingest = request.app[INGEST]
    # Checked before the key is looked up: a retry must not make a bad ping look good.
    target = _target(request)
    key = request.headers.get("Idempotency-Key")
    # A repeat is answered, like the original, once that is committed.
    answer, done = await ingest.once(key, lambda key: _accept(request, target, key))
    if done is not None:
        await committed(request, done, "the ping is")
    return _run_id_answer(answer.get("run_id"))


def _run_id_answer(run_id: str | None) -> web.Response:
    # A line of text, so `curl` in a terminal does not leave the prompt on the same line;
    # `RID=$(curl ...)` drops the newline.
    return web.Response(text=f"{run_id}\n" if run_id else "", content_type="text/plain")


class _Target(NamedTuple):
    """What a ping's path and query say: the job, the action, and the run if named."""

    job: str
    kind: str
    status: str | None
    exit_code: int | None
    rid: str | None


def _target(request: web.Request) -> _Target:
    job = _job(request)
    kind, status, exit_code = _action(request.match_info.get("action"))
    rid = request.query.get("rid")
    if rid is not None:
        try:
            rid = parse_uuid(rid, "rid")
        except EventError as exc:
            raise bad_param("rid", str(exc)) from None
    return _Target(job, kind, status, exit_code, rid)


async def _accept(request: web.Request, target: _Target, key: str | None) -> Accepted:
    """Queue the ping's events: ({"run_id": ...}, the future of their commit; None if no
    event)."""
    job, kind, status, exit_code, rid = target
    body = await read_body(request, request.app[SETTINGS].max_body_bytes)
    now = request.app[CLOCK].now()
    stamp = now.isoformat()
    head: list[Event] = []
    tail: list[Event] = []
    run_id = rid
    if kind == "start":
        run_id = rid or str(uuid.uuid4())
        head.append(_run_event({"run_id": run_id, "job": job, "status": "running",
                                "trigger": "ping", "started_at": stamp}, now, request))  # fmt: skip
    else:
        run_id = rid or await _latest_active_run(request, job)
    if kind == "end":
        fields: dict[str, Any] = {"job": job, "status": status, "finished_at": stamp}
        if run_id is None:  # nothing running: a run that starts and ends at once
            run_id = str(uuid.uuid4())
            fields.update(started_at=stamp, trigger="ping")
        if exit_code is not None:
            fields["result"] = {"exit_code": exit_code}
            if exit_code:
                fields["error"] = {"type": "ExitCode", "message": f"exit code {exit_code}"}
        tail.append(_run_event({"run_id": run_id, **fields}, now, request))
    logs = [
        _parse({"message": line, "job": job, "run_id": run_id, "ts": stamp}, now, request)
        for line in body_lines(body)
    ]
    events = head + logs + tail
    answer = {"run_id": run_id}
    if not events:
        return answer, None
    ingest = request.app[INGEST]
    ingest.check_rate(client_of(request), len(events))
    done = await ingest.submit(events, len(body), answer, key=key, wait=True)
    assert done is not None
    return answer, done
