"""GET /v1/openapi.json: the OpenAPI 3.1 description of every route ingestd serves.

Built once as plain data from the schemas in `openapi.schemas` (generated from the msgspec
models), the parameters in `openapi.parameters`, the request examples in `openapi.examples`
and the monitoring paths in `openapi.monitoring`, serialised once with orjson.
tests/test_openapi.py checks that the document is valid and that it and the router agree,
path for path and method for method; tests/test_openapi_bodies.py that bodies and answers
agree with their schemas; tests/test_openapi_fuzz.py fuzzes every operation and checks that
the server answers only what the document says it does.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from ingestd.openapi import compare as compare_openapi
from ingestd.openapi import monitoring as monitoring_openapi
from ingestd.openapi.examples import EXAMPLES
from ingestd.openapi.parameters import NAME, PARAMETERS, query_param
from ingestd.openapi.schemas import SCHEMAS, ref
from ingestd.read.params import MAX_RECENT_RUNS

routes = web.RouteTableDef()


def _p(*names: str) -> list[dict[str, str]]:
    return [{"$ref": f"#/components/parameters/{name}"} for name in names]


def _problems(*codes: int) -> dict[str, Any]:
    return {str(code): {"$ref": "#/components/responses/Problem"} for code in codes}


def _json(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref(schema)}}}


def _op(
    summary: str, tag: str, scope: str | None, responses: dict[str, Any], **rest: Any
) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "tags": [tag], **rest}
    # Open routes say so with an empty list; protected ones name the scope they need.
    operation["security"] = [{"bearer": [scope]}] if scope else []
    auth = (401, 403) if scope else ()
    operation["responses"] = {**responses, **_problems(*auth)}
    return operation


_RETRY = {
    "description": "The daemon cannot take more right now, a query took too long, or the "
    "database is away; retry after Retry-After seconds.",
    "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    "content": {"application/problem+json": {"schema": ref("Problem")}},
}
_EVENTS_BODY = {
    "required": True,
    "description": "One event, an array of events, or NDJSON (one event per line). "
    "Content-Encoding: gzip is accepted.",
    "content": {
        "application/json": {
            "schema": {"oneOf": [ref("Event"), {"type": "array", "items": ref("Event")}]},
            "examples": EXAMPLES["Event"],
        },
        "application/x-ndjson": {
            "schema": {"type": "string", "description": "One JSON event per line."}
        },
    },
}


def _body(schema: str, required: bool = True) -> dict[str, Any]:
    media = {"schema": ref(schema), "examples": EXAMPLES[schema]}
    return {"required": required, "content": {"application/json": media}}


_INGEST_PATHS: dict[str, Any] = {
    "/v1/events": {
        "post": _op(
            "Send log and run events",
            "ingest",
            "ingest",
            {
                "200": _json("IngestAnswer", "With ?wait=commit: committed in PostgreSQL"),
                "202": _json("IngestAnswer", "Accepted (bad events listed in rejected)"),
                **_problems(400, 413, 415),
                "429": _RETRY,
                "503": _RETRY,
            },
            parameters=[
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "description": "A repeated request with the same key is stored once; "
                    'its answer says "duplicate": true.',
                    "schema": {"type": "string"},
                },
                {
                    "name": "Content-Encoding",
                    "in": "header",
                    "schema": {"enum": ["gzip", "identity"]},
                },
                query_param("wait", "Answer once committed (200).", {"enum": ["commit"]}),
            ],
            requestBody=_EVENTS_BODY,
        )
    },
    "/v1/runs": {
        "post": _op(
            "Start (create) a run",
            "runs",
            "ingest",
            {"201": _json("Run", "The run"), **_problems(400, 413, 415, 503)},
            requestBody=_body("RunCreate"),
        ),
        "get": _op(
            "Runs, newest first",
            "read",
            "read",
            {"200": _json("RunList", "A page of runs"), **_problems(400), "503": _RETRY},
            parameters=_p("job", "status", "trigger", "since", "until", "attr", "limit", "cursor"),
        ),
        "delete": _op(
            "Delete runs (and their logs) older than `before`",
            "admin",
            "admin",
            {"200": _json("Deleted", "How many were deleted"), **_problems(400), "503": _RETRY},
            parameters=_p("before", "job"),
        ),
    },
    "/v1/runs/{run_id}": {
        "parameters": _p("run_id"),
        "patch": _op(
            "Update a run (an empty body is a heartbeat)",
            "runs",
            "ingest",
            {"200": _json("Run", "The run"), **_problems(400, 404, 413, 415, 503)},
            requestBody=_body("RunUpdate", required=False),
        ),
        "get": _op(
            "One run, with log_counts",
            "read",
            "read",
            {"200": _json("Run", "The run"), **_problems(400, 404), "503": _RETRY},
        ),
    },
    "/v1/runs/{run_id}/finish": {
        "parameters": _p("run_id"),
        "post": _op(
            "Finish a run",
            "runs",
            "ingest",
            {"200": _json("Run", "The run"), **_problems(400, 404, 413, 415, 503)},
            requestBody=_body("RunFinish"),
        ),
    },
}

_LOG_FILTERS = ("job", "run_id_query", "level", "min_level", "step", "since", "until", "q")

_READ_PATHS: dict[str, Any] = {
    "/v1/runs/{run_id}/logs": {
        "parameters": _p("run_id"),
        "get": _op(
            "One run's logs, oldest first",
            "read",
            "read",
            {"200": _json("LogList", "A page of logs"), **_problems(400, 404), "503": _RETRY},
            parameters=_p("level", "min_level", "step", "since", "until", "q", "limit", "cursor"),
        ),
    },
    "/v1/logs": {
        "get": _op(
            "Logs, newest first",
            "read",
            "read",
            {"200": _json("LogList", "A page of logs"), **_problems(400), "503": _RETRY},
            parameters=_p(*_LOG_FILTERS, "fingerprint", "attr", "limit", "cursor"),
        ),
        "delete": _op(
            "Delete logs older than `before` (whole day partitions dropped where possible)",
            "admin",
            "admin",
            {"200": _json("Deleted", "How many were deleted"), **_problems(400), "503": _RETRY},
            parameters=_p("before", "job"),
        ),
    },
    "/v1/jobs": {
        "get": _op(
            "One row per job: last run, success rate, average duration, health",
            "read",
            "read",
            {"200": _json("JobList", "Every job"), **_problems(400), "503": _RETRY},
            parameters=[
                *_p("days"),
                query_param(
                    "recent",
                    "Also each job's N newest runs (recent_runs); 0, the default, leaves them out.",
                    {"type": "integer", "minimum": 0, "maximum": MAX_RECENT_RUNS, "default": 0},
                ),
            ],
        )
    },
    "/v1/stats/summary": {
        "get": _op(
            "Run and log figures over the last N days",
            "stats",
            "read",
            {"200": _json("StatsSummary", "The figures"), **_problems(400), "503": _RETRY},
            parameters=_p("days", "job"),
        )
    },
    "/v1/stats/jobs": {
        "get": _op(
            "The summary figures per job",
            "stats",
            "read",
            {"200": _json("JobFiguresList", "One item per job"), **_problems(400), "503": _RETRY},
            parameters=_p("days", "job"),
        )
    },
    "/v1/stats/errors": {
        "get": _op(
            "Logs of level error or above, grouped",
            "stats",
            "read",
            {
                "200": _json("ErrorGroupList", "Groups, most errors first"),
                **_problems(400),
                "503": _RETRY,
            },
            parameters=_p("days", "job", "limit", "error_by"),
        )
    },
    "/v1/stats/errors/runs": {
        "get": _op(
            "The runs that hold a group's error lines, each once, newest error first",
            "stats",
            "read",
            {"200": _json("ErrorRunList", "Runs, newest first"), **_problems(400), "503": _RETRY},
            parameters=_p("days", "job", "error_by", "error_key", "error_runs_limit"),
        )
    },
    "/v1/stats/by": {
        "get": _op(
            "Run figures per value of a run attribute (a profile, a terminal, a project)",
            "stats",
            "read",
            {"200": _json("AttrGroupList", "One item per value"), **_problems(400), "503": _RETRY},
            parameters=[
                {
                    **query_param("attr", "The run attribute, e.g. profile_id.", NAME),
                    "required": True,
                },
                *_p("days", "job", "limit"),
            ],
        )
    },
    "/v1/stats/timeseries": {
        "get": _op(
            "Runs by status and logs by level per hour or day",
            "stats",
            "read",
            {"200": _json("BucketList", "One item per bucket"), **_problems(400), "503": _RETRY},
            parameters=[
                *_p("days", "job"),
                query_param("bucket", "Bucket size.", {"enum": ["hour", "day"], "default": "hour"}),
            ],
        )
    },
    "/v1/tail": {
        "get": {
            **_op(
                "Live tail of new logs as Server-Sent Events (event: log, overflow)",
                "read",
                "read",
                {
                    "200": {
                        "description": "An endless stream; each `data:` is a Log as JSON.",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    **_problems(400, 503),
                },
                parameters=[
                    *_p(*_LOG_FILTERS, "fingerprint", "attr"),
                    query_param("token", "The token, for EventSource (cannot send headers)."),
                ],
            ),
            "security": [{"bearer": ["read"]}, {"queryToken": ["read"]}],
        }
    },
}

_TEXT = {"text/plain": {"schema": {"type": "string"}}}
_HTML = {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}

_OPERATIONS_PATHS: dict[str, Any] = {
    "/healthz": {
        "get": _op(
            "The process is alive",
            "operations",
            None,
            {"200": {"description": '{"status": "ok"}'}},
        )
    },
    "/readyz": {
        "get": _op(
            "Ready: the database is reachable and the writer runs",
            "operations",
            None,
            {"200": {"description": '{"status": "ready"}'}, **_problems(503)},
        )
    },
    "/metrics": {
        "get": _op(
            "Prometheus metrics",
            "operations",
            None,
            {"200": {"description": "Prometheus text format", "content": _TEXT}},
        )
    },
    "/": {"get": _op("The dashboard", "dashboard", None, {"200": _HTML})},
    "/static/{name}": {
        "get": _op(
            "A dashboard file (script, style, image)",
            "dashboard",
            None,
            {"200": {"description": "The file"}, **_problems(404)},
            parameters=[
                {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
        )
    },
    "/v1/openapi.json": {
        "get": _op(
            "This document",
            "operations",
            None,
            {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}},
        )
    },
}


def _merge(*parts: dict[str, Any]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for part in parts:
        for path, item in part.items():
            paths.setdefault(path, {}).update(item)
    return paths


DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "ingestd",
        "version": "1",
        "description": "Job logs and runs: ingest, read, stats, live tail, pings, alerts.",
    },
    "paths": _merge(
        _INGEST_PATHS,
        _READ_PATHS,
        compare_openapi.PATHS,
        monitoring_openapi.PATHS,
        _OPERATIONS_PATHS,
    ),
    "components": {
        "schemas": {**SCHEMAS, **compare_openapi.SCHEMAS},
        "parameters": PARAMETERS,
        "responses": {
            "Problem": {
                "description": "A problem (RFC 9457)",
                "content": {"application/problem+json": {"schema": ref("Problem")}},
            }
        },
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "A token from INGESTD_TOKENS; scopes ingest, read, admin.",
            },
            "queryToken": {"type": "apiKey", "in": "query", "name": "token"},
        },
    },
}
BODY = orjson.dumps(DOCUMENT)


@routes.get("/v1/openapi.json")
async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(body=BODY, content_type="application/json")
