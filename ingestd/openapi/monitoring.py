"""The OpenAPI 3.1 description of pings, job settings and alerts, for /v1/openapi.json to
merge: `PATHS` into its `paths`, `SCHEMAS` into `components.schemas`."""

from __future__ import annotations

from typing import Any

from ingestd.ingest.events import MAX_NAME_CHARS
from ingestd.monitoring.job_settings import MAX_COUNTER_CHARS, MAX_WEBHOOKS, RULES
from ingestd.monitoring.jobs_api import MAX_JOB_CHARS
from ingestd.monitoring.schedules import MAX_CRON_CHARS
from ingestd.monitoring.webhooks import MAX_URL_CHARS
from ingestd.read.params import MAX_LIMIT, MAX_TEXT

#: More than 0 and at most a year (monitoring/schedules.py parse_duration).
_DURATION = {
    "type": ["string", "number", "null"],
    "exclusiveMinimum": 0,
    "maximum": 366 * 86400,
    "examples": ["90s", "15m", "1h30m", 3600],
}
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
            "only (`https://host/[redacted]`): webhook URLs often hold their secret.",
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
            "(in any spelling) is refused with 400 unless INGESTD_WEBHOOK_ALLOW_PRIVATE is set.",
            "tags": ["jobs"],
            "security": [{"bearer": ["admin"]}],
            "requestBody": {
                "required": False,
                "description": "No body: every field takes its default.",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/JobSettings"}}
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
                "200": {"description": '{"deleted": 0 or 1}'},
                **_problems(400, 401, 403),
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

_URL = {
    "type": "string",
    "format": "uri",
    "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://",
    "maxLength": MAX_URL_CHARS,
}
_WEBHOOK = {
    "oneOf": [
        _URL,
        {
            "type": "object",
            "required": ["url"],
            "additionalProperties": False,
            "properties": {
                "url": _URL,
                "format": {"enum": ["json", "slack"]},
            },
        },
    ]
}

_SETTINGS_PROPERTIES: dict[str, Any] = {
    "every": _DURATION,
    "cron": {"type": ["string", "null"], "maxLength": MAX_CRON_CHARS, "examples": ["0 3 * * *"]},
    "timezone": {"type": ["string", "null"], "examples": ["Europe/Berlin"]},
    "grace": _DURATION,
    "max_duration": _DURATION,
    "heartbeat_timeout": _DURATION,
    "alerts": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "webhooks": {"type": ["array", "null"], "items": _WEBHOOK, "maxItems": MAX_WEBHOOKS},
            "global_webhooks": {"type": "boolean", "default": True},
            "rules": {"type": "array", "items": {"enum": list(RULES)}},
            "failures_in_a_row": {"type": "integer", "minimum": 2, "maximum": 1000, "default": 3},
        },
    },
    "anomaly": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "enabled": {"type": "boolean", "default": True},
            "counters": {
                "type": ["array", "null"],
                "items": {"type": "string", "minLength": 1, "maxLength": MAX_COUNTER_CHARS},
            },
            "history": {"type": "integer", "minimum": 3, "maximum": 1000, "default": 20},
            "min_history": {
                "type": "integer",
                "minimum": 3,
                "maximum": 1000,
                "default": 10,
                "description": "At most history.",
            },
            "k": {"type": "number", "minimum": 1, "maximum": 100, "default": 4},
        },
    },
}

#: every and cron both given (not null): refused, "give either every or cron, not both".
_BOTH_GIVEN = {"every": {"not": {"type": "null"}}, "cron": {"not": {"type": "null"}}}

SCHEMAS: dict[str, Any] = {
    "JobSettings": {
        "type": "object",
        "additionalProperties": False,
        "description": "Give either every or cron (with an optional timezone), or neither.",
        "properties": _SETTINGS_PROPERTIES,
        "allOf": [
            {"not": {"required": ["every", "cron"], "properties": _BOTH_GIVEN}},
            {
                "if": {"required": ["timezone"], "properties": {"timezone": {"type": "string"}}},
                "then": {"required": ["cron"], "properties": {"cron": {"type": "string"}}},
            },
        ],
    },
    "Job": {
        "type": "object",
        "properties": {
            "job": {"type": "string"},
            **_SETTINGS_PROPERTIES,
            "configured": {"type": "boolean"},
            "health": {"enum": ["ok", "failing", "late", "missed", "unknown"]},
            "health_since": {"type": ["string", "null"], "format": "date-time"},
            "due_at": {"type": ["string", "null"], "format": "date-time"},
            "updated_at": {"type": ["string", "null"], "format": "date-time"},
        },
    },
    "Alert": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "rule": {"enum": list(RULES)},
            "job": {"type": ["string", "null"]},
            "run_id": {"type": ["string", "null"], "format": "uuid"},
            "created_at": {"type": "string", "format": "date-time"},
            "text": {"type": "string"},
            "details": {"type": "object"},
            "status": {"enum": ["sent", "pending", "failed", "none"]},
            "deliveries": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "target": {"type": "string"},
                        "format": {"enum": ["json", "slack"]},
                        "status": {"enum": ["pending", "sent", "failed"]},
                        "attempts": {"type": "integer"},
                        "last_error": {"type": ["string", "null"]},
                        "sent_at": {"type": ["string", "null"], "format": "date-time"},
                        "next_attempt_at": {"type": "string", "format": "date-time"},
                    },
                },
            },
        },
    },
    "AlertList": {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Alert"}},
            "next_cursor": {"type": ["string", "null"]},
        },
    },
}
