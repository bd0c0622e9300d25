"""GET /v1/alerts: the alerts raised, newest first, each with its deliveries; and
POST /v1/jobs/{job}/alerts/test: a test alert sent now to the job's targets."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
from typing import Any

import asyncpg
import orjson
from aiohttp import web

from ingestd.http.auth import granted, requires
from ingestd.http.problems import Problem, bad_param
from ingestd.http.responses import json_response
from ingestd.ingest.events import EventError, parse_time
from ingestd.monitoring import job_settings, rules, sql, webhooks
from ingestd.monitoring.alerts import DISPATCHER, redacted_target
from ingestd.monitoring.clock import CLOCK
from ingestd.monitoring.job_settings import RULES, JobSettings
from ingestd.monitoring.jobs_api import _job
from ingestd.monitoring.setup import connection
from ingestd.read.params import MAX_ID, Params
from ingestd.settings import SETTINGS

routes = web.RouteTableDef()

PARAMS = frozenset({"job", "rule", "since", "limit", "cursor"})
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000


def encode_cursor(alert_id: int) -> str:
    return base64.urlsafe_b64encode(f"alerts:{alert_id}".encode()).decode().rstrip("=")


def decode_cursor(text: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    kind, _, number = raw.partition(":")
    # isdigit() alone lets '²' through, which int() refuses; ids are bigints.
    if kind != "alerts" or not (number.isascii() and number.isdigit()):
        raise bad_param("cursor", "is not a cursor of this list")
    if int(number) > MAX_ID:
        raise bad_param("cursor", "is damaged: its alert id is out of range")
    return int(number)


def _status(deliveries: list[dict[str, Any]]) -> str:
    """The alert's state across its webhooks: failed > pending > sent; none without any."""
    statuses = {d["status"] for d in deliveries}
    for status in ("failed", "pending", "sent"):
        if status in statuses:
            return status
    return "none"


def view(row: asyncpg.Record, *, redact: bool = False) -> dict[str, Any]:
    """An alert as listed; `redact` hides the webhooks' secrets and their answers."""
    deliveries = orjson.loads(row["deliveries"])
    if redact:
        for delivery in deliveries:
            delivery["target"] = redacted_target(delivery["target"], delivery["format"])
            delivery["last_error"] = webhooks.redacted_error(delivery["last_error"])
    return {
        "id": row["id"],
        "rule": row["rule"],
        "job": row["job"],
        "run_id": row["run_id"],
        "created_at": row["created_at"],
        "text": row["text"],
        "details": orjson.Fragment(row["details"]),
        "status": _status(deliveries),
        "deliveries": deliveries,
    }


@routes.get("/v1/alerts")
@requires("read")
async def list_alerts(request: web.Request) -> web.Response:
    params = Params.of(request, PARAMS)
    query = request.query
    clauses: list[str] = []
    args: list[Any] = []

    def where(fragment: str, value: Any) -> None:
        args.append(value)
        clauses.append(fragment.replace("$?", f"${len(args)}"))

    job = params.text("job")
    if job is not None:
        where("a.job = $?", job)
    if "rule" in query:
        if query["rule"] not in RULES:
            raise bad_param("rule", f"must be one of {', '.join(RULES)}")
        where("a.rule = $?", query["rule"])
    if "since" in query:
        since: Any = query["since"]
        with contextlib.suppress(ValueError):
            since = float(since)  # epoch seconds
        try:
            where("a.created_at >= $?", parse_time(since, "since"))
        except EventError as exc:
            raise bad_param("since", str(exc)) from None
    if "cursor" in query:
        where("a.id < $?", decode_cursor(query["cursor"]))
    limit = params.integer("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    text = sql.LIST_ALERTS.format(
        where="WHERE " + " AND ".join(clauses) if clauses else "", limit=limit + 1
    )
    async with connection(request) as conn:
        rows = await conn.fetch(text, *args)
    more = len(rows) > limit
    rows = rows[:limit]
    return json_response(
        {
            "items": [view(r, redact=not granted(request, "admin")) for r in rows],
            "next_cursor": encode_cursor(rows[-1]["id"]) if more else None,
        }
    )


@routes.post("/v1/jobs/{job}/alerts/test")
@requires("admin")
async def test_alert(request: web.Request) -> web.Response:
    """Send a test alert to each of the job's targets (its own, and the global ones unless
    it opted out) now, once, without recording it; answer how each went."""
    job = _job(request)
    async with connection(request) as conn:
        row = await conn.fetchrow(sql.GET_JOB, job)
        if row is None and not await conn.fetchval(sql.JOB_HAS_RUNS, job):
            raise Problem(404, "Not Found", f"no job {job!r}: it has no settings and no runs")
    settings = job_settings.from_row(row) if row is not None else JobSettings(job)
    app_settings = request.app[SETTINGS]
    global_targets = app_settings.alert_webhooks + app_settings.alert_apprise_urls
    targets = rules.targets_for(settings, global_targets)
    alert = {
        "alert_id": None,
        "rule": "test",
        "job": job,
        "run_id": None,
        "created_at": request.app[CLOCK].now().isoformat(),
        "text": f"[ingestd] {job}: a test alert, sent from POST /v1/jobs/{{job}}/alerts/test",
        "details": {"test": True},
    }
    dispatcher = request.app[DISPATCHER]
    errors = await asyncio.gather(*(dispatcher.send(t.url, t.format, alert) for t in targets))
    return json_response(
        {
            "job": job,
            "results": [
                {
                    "target": t.url,
                    "format": t.format,
                    "status": "sent" if error is None else "failed",
                    "error": error,
                }
                for t, error in zip(targets, errors, strict=True)
            ],
        }
    )
