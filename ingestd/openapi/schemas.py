"""Component schemas of the OpenAPI document (`ingestd.openapi.document`): events, runs,
logs, jobs, stats, problems and the list envelope. Plain data, shaped after docs/api.md."""

from __future__ import annotations

from typing import Any

from ingestd.ingest.events import MAX_NAME_CHARS
from ingestd.ingest.vocab import LEVELS

STATUSES = ["pending", "running", "success", "warning", "failed", "cancelled", "timed_out"]


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def page_of(item: str) -> dict[str, Any]:
    """The list envelope: `{items, next_cursor}`."""
    return {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": ref(item)},
            "next_cursor": {
                "type": ["string", "null"],
                "description": "Pass as `cursor=` for the next page; null on the last one.",
            },
        },
    }


_OBJECT = {"type": "object", "additionalProperties": True}
_OBJECT_OR_NULL = {"type": ["object", "null"], "additionalProperties": True}
_TIME = {
    "oneOf": [
        {"type": "string", "format": "date-time"},
        {"type": "number", "description": "epoch seconds, fractions allowed"},
    ]
}
_STAMP = {"type": "string", "format": "date-time"}
_STAMP_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
_LEVEL_IN = {
    "description": "A level name in any case (warn, fatal, err as aliases) or a number.",
    "oneOf": [{"type": "string"}, {"type": "integer", "minimum": 0, "maximum": 100}],
}
_STATUS_IN = {
    "type": "string",
    "description": "A run status, or an alias in any case: ok, succeeded, completed, error, "
    "failure, fail, canceled, queued.",
    "examples": STATUSES,
}
_COUNTERS = {"type": "object", "additionalProperties": {"type": "number"}}
_LEVEL_COUNTS = {
    "type": "object",
    "description": "Number of logs per level name.",
    "additionalProperties": {"type": "integer"},
}
_MS = {"type": ["number", "null"], "description": "milliseconds"}
_RATE = {
    "type": ["number", "null"],
    "description": "Percent of finished runs that succeeded (`success` or `warning`: a "
    "warning is a success with warnings), one decimal.",
}

#: job, step, trigger, event_id: a non-empty string of at most MAX_NAME_CHARS (events.py _name).
_NAME = {"type": "string", "minLength": 1, "maxLength": MAX_NAME_CHARS}
_PROGRESS = {"type": "number", "minimum": 0, "maximum": 100}

ERROR_INFO = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "message": {"type": "string"},
        "stack": {"type": "string"},
    },
}

SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details.",
        "required": ["type", "title", "status"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {"type": "array", "items": {}},
            "parameter": {"type": "string", "description": "The query parameter at fault."},
        },
    },
    "ErrorInfo": ERROR_INFO,
    "LogEvent": {
        "type": "object",
        "required": ["message"],
        "properties": {
            "kind": {"const": "log", "default": "log"},
            "message": {"type": "string"},
            "ts": _TIME,
            "level": _LEVEL_IN,
            "run_id": {"type": "string", "format": "uuid"},
            "job": _NAME,
            "step": {**_NAME, "examples": ["FETCH", "SAVE"]},
            "attrs": _OBJECT,
            "source": {
                "type": "object",
                "properties": {
                    "logger": {"type": "string"},
                    "module": {"type": "string"},
                    "function": {"type": "string"},
                    "line": {"type": "integer"},
                    "file": {"type": "string"},
                    "host": {"type": "string"},
                    "pid": {"type": "integer"},
                },
            },
            "error": ref("ErrorInfo"),
            "event_id": {**_NAME, "description": "The same event_id is stored once."},
        },
    },
    "RunEvent": {
        "type": "object",
        "required": ["kind", "run_id"],
        "properties": {
            "kind": {"const": "run"},
            "run_id": {"type": "string", "format": "uuid"},
            "job": {**_NAME, "description": "Required the first time a run is seen."},
            "status": _STATUS_IN,
            "trigger": {**_NAME, "examples": ["cron", "manual", "api"]},
            "started_at": _TIME,
            "finished_at": _TIME,
            "progress": _PROGRESS,
            "step": _NAME,
            "counters": _COUNTERS,
            "result": _OBJECT,
            "error": ref("ErrorInfo"),
            "attrs": _OBJECT,
        },
    },
    "Event": {"oneOf": [ref("LogEvent"), ref("RunEvent")]},
    "IngestAnswer": {
        "type": "object",
        "required": ["accepted", "rejected", "duplicate"],
        "properties": {
            "accepted": {"type": "integer"},
            "rejected": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"index": {"type": "integer"}, "error": {"type": "string"}},
                },
            },
            "duplicate": {"type": "boolean"},
        },
    },
    "RunCreate": {
        "type": "object",
        "required": ["job"],
        "additionalProperties": False,
        "properties": {
            "job": _NAME,
            "run_id": {"type": "string", "format": "uuid"},
            "trigger": _NAME,
            "attrs": _OBJECT,
            "started_at": _TIME,
            "status": _STATUS_IN,
            "step": _NAME,
            "progress": _PROGRESS,
            "counters": _COUNTERS,
        },
    },
    "RunUpdate": {
        "type": "object",
        "description": "An empty body is a heartbeat.",
        "additionalProperties": False,
        "properties": {
            "progress": _PROGRESS,
            "step": _NAME,
            "counters": _COUNTERS,
            "attrs": _OBJECT,
            "status": _STATUS_IN,
        },
    },
    "RunFinish": {
        "type": "object",
        "required": ["status"],
        "additionalProperties": False,
        "properties": {
            "status": _STATUS_IN,
            "counters": _COUNTERS,
            "result": _OBJECT,
            "error": ref("ErrorInfo"),
            "finished_at": _TIME,
            "step": _NAME,
            "progress": _PROGRESS,
            "attrs": _OBJECT,
        },
    },
    "Run": {
        "type": "object",
        "properties": {
            "run_id": {"type": "string", "format": "uuid"},
            "job": {"type": "string"},
            "status": {"enum": STATUSES},
            "trigger": {"type": ["string", "null"]},
            "started_at": _STAMP_OR_NULL,
            "finished_at": _STAMP_OR_NULL,
            "duration_ms": _MS,
            "progress": {"type": ["number", "null"]},
            "step": {"type": ["string", "null"]},
            "counters": _OBJECT_OR_NULL,
            "result": _OBJECT_OR_NULL,
            "error": _OBJECT_OR_NULL,
            "attrs": _OBJECT_OR_NULL,
            "log_counts": {**_LEVEL_COUNTS, "description": "Only in GET /v1/runs/{run_id}."},
            "last_event_at": _STAMP_OR_NULL,
        },
    },
    "Log": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "ts": _STAMP,
            "received_at": _STAMP,
            "level": {"enum": list(LEVELS)},
            "levelno": {"type": "integer"},
            "job": {"type": ["string", "null"]},
            "run_id": {"type": ["string", "null"], "format": "uuid"},
            "step": {"type": ["string", "null"]},
            "message": {"type": "string"},
            "attrs": _OBJECT_OR_NULL,
            "source": _OBJECT_OR_NULL,
            "error": _OBJECT_OR_NULL,
            "fingerprint": {
                "type": ["string", "null"],
                "description": "Groups error messages that differ only in numbers, ids, paths.",
            },
        },
    },
    "JobSummary": {
        "type": "object",
        "description": "One row of GET /v1/jobs.",
        "properties": {
            "job": {"type": "string"},
            "last_run": {"oneOf": [ref("Run"), {"type": "null"}]},
            "runs_total": {"type": "integer"},
            "success_rate": _RATE,
            "avg_duration_ms": _MS,
            "health": {"enum": ["ok", "failing", "late", "missed", "unknown"]},
            "recent_runs": {
                "type": "array",
                "description": "With ?recent=N only: the job's N newest runs, newest first.",
                "items": {
                    "type": "object",
                    "properties": {
                        "run_id": {"type": "string", "format": "uuid"},
                        "status": {"enum": STATUSES},
                        "started_at": _TIME,
                        "duration_ms": {"type": ["integer", "null"]},
                    },
                },
            },
        },
    },
    "RunFigures": {
        "type": "object",
        "properties": {
            "job": {"type": "string", "description": "In /v1/stats/jobs items."},
            "total_runs": {"type": "integer"},
            "success_count": {"type": "integer"},
            "failure_count": {"type": "integer"},
            "warning_count": {"type": "integer"},
            "running_count": {"type": "integer"},
            "cancelled_count": {"type": "integer"},
            "finished_count": {"type": "integer"},
            "success_rate": _RATE,
            "avg_duration_ms": _MS,
            "p50_duration_ms": _MS,
            "p95_duration_ms": _MS,
            "runs_by_status": {"type": "object", "additionalProperties": {"type": "integer"}},
            "log_counts": _LEVEL_COUNTS,
        },
    },
    "StatsSummary": {
        "allOf": [
            ref("RunFigures"),
            {
                "type": "object",
                "properties": {
                    "days": {"type": "integer"},
                    "recent_runs": {"type": "array", "items": ref("Run"), "maxItems": 10},
                },
            },
        ]
    },
    "ErrorGroup": {
        "type": "object",
        "properties": {
            "key": {"type": ["string", "null"]},
            "error_count": {"type": "integer"},
            "affected_runs": {"type": "integer"},
            "first_seen": _STAMP,
            "last_seen": _STAMP,
            "sample": {"type": ["object", "null"], "description": "The latest such log."},
        },
    },
    "AttrGroup": {
        "type": "object",
        "properties": {
            "key": {"description": "The attribute's value"},
            "total": {"type": "integer"},
            "success": {"type": "integer"},
            "failed": {"type": "integer"},
            "warning": {"type": "integer"},
            "success_rate": _RATE,
            "avg_duration_ms": _MS,
        },
    },
    "Bucket": {
        "type": "object",
        "properties": {
            "bucket": _STAMP,
            "runs_by_status": {"type": "object", "additionalProperties": {"type": "integer"}},
            "logs_by_level": _LEVEL_COUNTS,
            "total_runs": {"type": "integer"},
            "success_rate": _RATE,
            "avg_duration_ms": _MS,
            "p50_duration_ms": _MS,
            "p95_duration_ms": _MS,
        },
    },
    "Deleted": {
        "type": "object",
        "required": ["deleted"],
        "properties": {
            "deleted": {"type": "integer"},
            "dropped_partitions": {"type": "integer", "description": "DELETE /v1/logs only."},
        },
    },
    "RunList": page_of("Run"),
    "LogList": page_of("Log"),
    "JobList": page_of("JobSummary"),
    "JobFiguresList": page_of("RunFigures"),
    "ErrorGroupList": page_of("ErrorGroup"),
    "AttrGroupList": page_of("AttrGroup"),
    "BucketList": page_of("Bucket"),
}
