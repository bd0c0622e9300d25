"""The query and path parameters of the read API, as OpenAPI 3.1 components for
/v1/openapi.json (`components.parameters`; operations refer to them by name)."""

from __future__ import annotations

from typing import Any

from ingestd.read.params import DEFAULT_LIMIT, MAX_DAYS, MAX_LIMIT

_TIME_TEXT = "RFC 3339, epoch seconds, or a duration back from now: 90s, 15m, 24h, 7d, 2w."


def query_param(
    name: str, description: str, schema: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "description": description,
        "schema": schema or {"type": "string"},
    }


PARAMETERS: dict[str, Any] = {
    "job": query_param("job", "Only this job."),
    "run_id_query": query_param("run_id", "Only this run.", {"type": "string", "format": "uuid"}),
    "status": query_param("status", "Comma list of run statuses (aliases accepted)."),
    "trigger": query_param("trigger", "Comma list of triggers: cron, manual, api ..."),
    "since": query_param("since", "From this time on. " + _TIME_TEXT),
    "until": query_param("until", "Before this time. " + _TIME_TEXT),
    "level": query_param("level", "Comma list of level names (a name covers its band) or numbers."),
    "min_level": query_param("min_level", "This level or above: a name or a number."),
    "step": query_param("step", "Only this step (phase)."),
    "q": query_param("q", "Text to find in the message, case-insensitive.", {"maxLength": 200}),
    "fingerprint": query_param("fingerprint", "Only errors with this fingerprint."),
    "attr": {
        "name": "attr.<key>",
        "in": "query",
        "description": "attr.<key>=<value>: only rows whose attrs hold key = value "
        "(the value matches as a string and as the number/boolean it spells). Repeatable "
        "with different keys. (OpenAPI cannot name a parameter by pattern; this one stands "
        "for the family.)",
        "schema": {"type": "string"},
    },
    "limit": query_param(
        "limit",
        "Page size.",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    ),
    "cursor": query_param("cursor", "The next_cursor of the previous page (opaque)."),
    "days": query_param(
        "days", "Window: the last N days.", {"type": "integer", "minimum": 1, "maximum": MAX_DAYS}
    ),
    "before": {
        **query_param("before", "Delete what is older than this. " + _TIME_TEXT),
        "required": True,
    },
    "run_id": {
        "name": "run_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "format": "uuid"},
    },
}
