"""The query and path parameters of the read API, as OpenAPI 3.1 components for
/v1/openapi.json (`components.parameters`; operations refer to them by name)."""

from __future__ import annotations

from typing import Any

from ingestd.read.params import (
    DEFAULT_LIMIT,
    MAX_DAYS,
    MAX_ERROR_RUNS,
    MAX_LIMIT,
    MAX_QUERY_TEXT,
    MAX_TEXT,
)  # fmt: skip

_TIME_TEXT = "RFC 3339, epoch seconds, or a duration back from now: 90s, 15m, 24h, 7d, 2w."


#: What the server takes for a name (`Params.text`) and for a comma list (`Params.texts`): an
#: empty value is a 400, not "no filter". A list's own limit (20 * MAX_TEXT characters) is not
#: given: aiohttp refuses a request line over 8190 bytes before ingestd sees it.
NAME = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT}
NAMES = {"type": "string", "minLength": 1}
#: Anything else the server reads from text refuses an empty value too.
NON_EMPTY = {"type": "string", "minLength": 1}


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
    "job": query_param("job", "Only this job.", NAME),
    "run_id_query": query_param("run_id", "Only this run.", {"type": "string", "format": "uuid"}),
    "status": query_param("status", "Comma list of run statuses (aliases accepted).", NAMES),
    "trigger": query_param("trigger", "Comma list of triggers: cron, manual, api ...", NAMES),
    "since": query_param("since", "From this time on. " + _TIME_TEXT, NON_EMPTY),
    "until": query_param("until", "Before this time. " + _TIME_TEXT, NON_EMPTY),
    "level": query_param(
        "level", "Comma list of level names (a name covers its band) or numbers.", NAMES
    ),
    "min_level": query_param("min_level", "This level or above: a name or a number.", NON_EMPTY),
    "step": query_param("step", "Only this step (phase).", NAME),
    "q": query_param(
        "q",
        "Text to find in the message, case-insensitive.",
        {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_TEXT, "pattern": "\\S"},
    ),
    "fingerprint": query_param("fingerprint", "Only errors with this fingerprint.", NAME),
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
    "error_by": query_param(
        "by",
        "Group by step, job, fingerprint, job and step together (job,step) or attr.<key>.",
        {
            "type": "string",
            "pattern": r"^(step|job|fingerprint|job,step|attr\.[\s\S]+)$",
            "maxLength": len("attr.") + MAX_TEXT,
            "default": "step",
            "examples": ["step", "job,step", "attr.terminal_id"],
        },
    ),
    "error_key": query_param(
        "key",
        "The group's key (by=job,step: the step, and job= the job); left out, the group "
        "without a key (no step, no fingerprint ...).",
        NAME,
    ),
    "error_runs_limit": query_param(
        "limit",
        "How many runs.",
        {"type": "integer", "minimum": 1, "maximum": MAX_ERROR_RUNS, "default": 10},
    ),
    "cursor": query_param("cursor", "The next_cursor of the previous page (opaque).", NON_EMPTY),
    "days": query_param(
        "days", "Window: the last N days.", {"type": "integer", "minimum": 1, "maximum": MAX_DAYS}
    ),
    "before": {
        **query_param("before", "Delete what is older than this. " + _TIME_TEXT, NON_EMPTY),
        "required": True,
    },
    "run_id": {
        "name": "run_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "format": "uuid"},
    },
}
