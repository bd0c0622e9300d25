"""The OpenAPI 3.1 paths of pings, job settings and alerts, for /v1/openapi.json to merge into
its `paths` (their schemas are generated from `monitoring/models.py`)."""

from __future__ import annotations

from typing import Any

from ingestd.ingest.events import MAX_NAME_CHARS
from ingestd.monitoring.job_settings import RULES
from ingestd.monitoring.jobs_api import MAX_JOB_CHARS
from ingestd.openapi.examples import EXAMPLES
from ingestd.read.params import MAX_LIMIT, MAX_TEXT

#: The database away, or a read past its budget: a 503 with Retry-After.
_UNAVAILABLE = {
    "description": "The database is away or too slow; retry after Retry-After seconds.",
    "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}

_PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _problems(*codes: int) -> dict[str, Any]:
    return {
        str(code): {
            "description": "A problem",
            "content": {"application/problem+json": {"schema": _PROBLEM}},
        }
        for code in codes
    }


def _json(schema: str, description: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{schema}"}
    return {"description": description, "content": {"application/json": {"schema": ref}}}


_RUN_ID_TEXT = {
    "description": "The run id and a newline (empty for a log outside any run)",
    "content": {"text/plain": {"schema": {"type": "string"}}},
}
_PING_PARAMS = [
    {
        "name": "job",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "maxLength": MAX_NAME_CHARS},
    },
    {
        "name": "rid",
        "in": "query",
        "schema": {"type": "string", "format": "uuid"},
        "description": "Pairs a start with its end.",
    },
    {
        "name": "token",
        "in": "query",
        "schema": {"type": "string"},
        "description": "The token, for clients that cannot send a header.",
    },
    {
        "name": "Idempotency-Key",
        "in": "header",
        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
        "description": "A retried ping with the same key is stored once and answers the run "
        "id of the first.",
    },
]
_PING_BODY = {
    "required": False,
    "content": {"text/plain": {"schema": {"type": "string"}}},
    "description": "Stored as the run's log lines, one per line.",
}


def _ping(summary: str) -> dict[str, Any]:
    operation = {
        "summary": summary,
        "tags": ["pings"],
        "requestBody": _PING_BODY,
        "responses": {"200": _RUN_ID_TEXT, **_problems(400, 401, 403, 404, 413, 415, 429, 503)},
        "security": [{"bearer": ["ingest"]}, {"queryToken": ["ingest"]}],
    }
    return {"parameters": _PING_PARAMS, "get": operation, "post": operation}


PATHS: dict[str, Any] = {
    "/ping/{job}": _ping(
        "The job ran and succeeded (a run that starts and ends at once, or "
        "the end of the latest running run, or of ?rid=)"
    ),
    "/ping/{job}/start": _ping("A run of the job starts"),
    "/ping/{job}/fail": _ping("The run failed"),
    "/ping/{job}/log": _ping("Add the body to the run as log lines"),
    "/ping/{job}/{exit_code}": {
        **_ping("The run ended with this exit code: 0 success, else failed"),
        "parameters": [
            *_PING_PARAMS,
            {
                "name": "exit_code",
                "in": "path",
                "required": True,
                "schema": {"type": "integer", "minimum": 0, "maximum": 255},
            },
        ],
    },
    "/v1/jobs/{job}": {
        "parameters": [
            {
                "name": "job",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "minLength": 1, "maxLength": MAX_JOB_CHARS},
            }
        ],
        "get": {
            "summary": "A job's settings and health",
            "description": "Without the admin scope, each webhook URL is shown as its origin "
            "only (`https://host/[redacted]`) and each Apprise URL as its scheme "
            "(`tgram://[redacted]`): such URLs often hold their secret.",
            "tags": ["jobs"],
            "security": [{"bearer": ["read"]}],
            "responses": {
                "200": _json("Job", "The job"),
                **_problems(400, 401, 403, 404),
                "503": _UNAVAILABLE,
            },
        },
        "put": {
            "summary": "Replace a job's settings (fields left out take their defaults)",
            "description": "A webhook whose host is a private, loopback or link-local address "
            "(in any spelling) is refused with 400 unless INGESTD_WEBHOOK_ALLOW_PRIVATE is set; "
            "so is an Apprise URL that Apprise cannot read, or whose service host (json://, "
            "ntfy://host, an email's SMTP server) is such an address.",
            "tags": ["jobs"],
            "security": [{"bearer": ["admin"]}],
            "requestBody": {
                "required": False,
                "description": "No body: every field takes its default.",
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/JobSettings"},
                        "examples": EXAMPLES["JobSettings"],
                    }
                },
            },
            "responses": {
                "200": _json("Job", "Updated"),
                "201": _json("Job", "Created"),
                **_problems(400, 401, 403, 413, 415),
                "503": _UNAVAILABLE,
            },
        },
        "delete": {
            "summary": "Forget a job's settings (its runs and logs stay)",
            "tags": ["jobs"],
            "security": [{"bearer": ["admin"]}],
            "responses": {
                "200": _json("Deleted", "0 or 1 settings deleted"),
                **_problems(400, 401, 403),
                "503": _UNAVAILABLE,
            },
        },
    },
    "/v1/jobs/{job}/alerts/test": {
        "parameters": [
            {
                "name": "job",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "minLength": 1, "maxLength": MAX_JOB_CHARS},
            }
        ],
        "post": {
            "summary": "Send a test alert to the job's targets now (added)",
            "description": "Once to each of the job's webhooks and Apprise URLs, and to the "
            "global ones unless the job opted out (global_webhooks false); not recorded and not "
            "retried. Answers how each went: sent, or failed with the reason. A job with neither "
            "settings nor runs is 404.",
            "tags": ["alerts"],
            "security": [{"bearer": ["admin"]}],
            "responses": {
                "200": _json("AlertTest", "How each target took it"),
                **_problems(400, 401, 403, 404),
                "503": _UNAVAILABLE,
            },
        },
    },
    "/v1/alerts": {
        "get": {
            "summary": "Alerts raised, newest first, with their deliveries",
            "description": "Without the admin scope, a delivery's target is shown as its origin "
            "only and its last_error without the receiver's answer (`HTTP 500`).",
            "tags": ["alerts"],
            "security": [{"bearer": ["read"]}],
            "parameters": [
                {
                    "name": "job",
                    "in": "query",
                    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT},
                },
                {"name": "rule", "in": "query", "schema": {"enum": list(RULES)}},
                {
                    "name": "since",
                    "in": "query",
                    "description": "RFC 3339 or epoch seconds.",
                    "schema": {"type": "string", "minLength": 1},
                },
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_LIMIT,
                        "default": 50,
                    },
                },
                {"name": "cursor", "in": "query", "schema": {"type": "string", "minLength": 1}},
            ],
            "responses": {
                "200": _json("AlertList", "A page of alerts"),
                **_problems(400, 401, 403),
                "503": _UNAVAILABLE,
            },
        },
    },
}
