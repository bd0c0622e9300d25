"""The OpenAPI 3.1 description of GET /v1/runs/{run_id}/compare, for /v1/openapi.json to
merge: `PATHS` into its `paths`, `SCHEMAS` into `components.schemas`."""

from __future__ import annotations

from typing import Any

from ingestd.ingest.vocab import LEVELS
from ingestd.openapi.examples import COMPARISON
from ingestd.read.compare import USUAL_RUNS

_PROBLEM = {"$ref": "#/components/responses/Problem"}
_MS = {"type": ["number", "null"], "description": "milliseconds"}
_STAMP_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
_ANY = {"description": "Any JSON value (as the run holds it), or null when it has none."}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _or_null(name: str) -> dict[str, Any]:
    return {"oneOf": [_ref(name), {"type": "null"}]}


_ERROR_ITEM = {
    "type": "object",
    "properties": {
        "fingerprint": {"type": ["string", "null"]},
        "step": {"type": ["string", "null"], "description": "The step of the sample line."},
        "count": {"type": "integer", "description": "Lines with it in the run (gone: in `with`)."},
        "with_count": {"type": "integer", "description": "Only in `both`."},
        "sample": {
            "type": "object",
            "description": "The newest such line.",
            "properties": {
                "message": {"type": "string"},
                "error": {"type": ["object", "null"], "additionalProperties": True},
            },
        },
    },
}

SCHEMAS: dict[str, Any] = {
    "UsualRange": {
        "type": "object",
        "description": f"A figure over the job's newest successful runs (at most {USUAL_RUNS}, "
        "the run itself left out): percentiles as percentile_cont, and how many runs had it. "
        '"Usually A-B" in the summary is p5-p95.',
        "properties": {
            "p5": {"type": "number"},
            "p50": {"type": "number"},
            "p95": {"type": "number"},
            "runs": {"type": "integer"},
        },
    },
    "RunBrief": {
        "type": "object",
        "properties": {
            "run_id": {"type": "string", "format": "uuid"},
            "job": {"type": ["string", "null"]},
            "status": {"type": "string"},
            "started_at": {"type": "string", "format": "date-time"},
            "finished_at": _STAMP_OR_NULL,
            "duration_ms": _MS,
        },
    },
    "RunComparison": {
        "type": "object",
        "description": "What changed between a run and `with`, set against the job's usual "
        "ranges. `with` is null when the job had no success before the run.",
        "required": ["run", "with", "summary"],
        "properties": {
            "run": _ref("RunBrief"),
            "with": _or_null("RunBrief"),
            "with_reason": {
                "enum": ["last_success", "requested"],
                "description": "last_success: the job's last success (or warning) before the run; "
                "requested: the run named by `with=` (of any job).",
            },
            "usual_window": {
                "type": "object",
                "properties": {
                    "runs": {"type": "integer"},
                    "of_at_most": {"type": "integer", "const": USUAL_RUNS},
                    "before_run": {
                        "type": "boolean",
                        "description": "true: the window is the job's newest successes that "
                        "started before the run; false: none did (the job's first runs), so it "
                        "is its newest successes, which came after the run.",
                    },
                },
            },
            "duration": {
                "type": "object",
                "properties": {
                    "ms": _MS,
                    "with_ms": _MS,
                    "difference_ms": _MS,
                    "p50_ms": _MS,
                    "p95_ms": _MS,
                    "usual": _or_null("UsualRange"),
                },
            },
            "steps": {
                "type": "array",
                "description": "Each step of either run, in the run's order, then the steps "
                "only `with` had; time is from a step's first line to its last.",
                "items": {
                    "type": "object",
                    "properties": {
                        "step": {"type": "string"},
                        "in": {"enum": ["both", "run", "with"]},
                        "ms": _MS,
                        "with_ms": _MS,
                        "lines": {"type": "integer"},
                        "with_lines": {"type": ["integer", "null"]},
                    },
                },
            },
            "errors": {
                "type": "object",
                "description": "Error fingerprints (lines of level error and above) new in "
                "the run, gone since `with`, and in both; most lines first.",
                "properties": {
                    name: {"type": "array", "items": _ERROR_ITEM}
                    for name in ("new", "gone", "both")
                },
            },
            "log_completeness": {
                **_ref("LogCompleteness"),
                "description": "Did every line the run numbered arrive (as on the run "
                "itself, gaps included): lost lines are said in `summary` too.",
            },
            "log_counts": {
                "type": "object",
                "description": "Lines per level: the run's, `with`'s and the usual range.",
                "properties": {
                    level: {
                        "type": "object",
                        "properties": {
                            "count": {"type": "integer"},
                            "with": {"type": ["integer", "null"]},
                            "usual": _or_null("UsualRange"),
                        },
                    }
                    for level in LEVELS
                },
            },
            "counters": {
                "type": "array",
                "description": "Counters that differ from `with` (all of the run's without "
                "one), with the usual range.",
                "items": {
                    "type": "object",
                    "properties": {
                        "key": {"type": "string"},
                        "value": _ANY,
                        "with": _ANY,
                        "usual": _or_null("UsualRange"),
                    },
                },
            },
            "attrs": {
                "type": "array",
                "description": "Attributes that differ from `with` (all of the run's without "
                "one), with the job's commonest values.",
                "items": {
                    "type": "object",
                    "properties": {
                        "key": {"type": "string"},
                        "value": _ANY,
                        "with": _ANY,
                        "usual": {
                            "type": ["object", "null"],
                            "properties": {
                                "values": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {"value": _ANY, "runs": {"type": "integer"}},
                                    },
                                },
                                "runs": {"type": "integer"},
                            },
                        },
                    },
                },
            },
            "summary": {
                "type": "array",
                "items": {"type": "string"},
                "description": "What stands out, as short sentences: new errors, the "
                "duration against the usual range, steps, log volume, counters, attributes.",
                "examples": [
                    [
                        "new error in SAVE: 'row 17: bad date' \u00d712",
                        "took 4 min 12 s, usually 1\u20134 min (2 min in the last success)",
                        "files 0, usually 40\u201342",
                    ]
                ],
            },
        },
    },
}

PATHS: dict[str, Any] = {
    "/v1/runs/{run_id}/compare": {
        "parameters": [{"$ref": "#/components/parameters/run_id"}],
        "get": {
            "summary": "What changed since the last good run",
            "tags": ["read"],
            "parameters": [
                {
                    "name": "with",
                    "in": "query",
                    "description": "last_success (the job's last success before the run), "
                    "or the id of any run, of any job.",
                    "schema": {"type": "string", "default": "last_success"},
                }
            ],
            "security": [{"bearer": ["read"]}],
            "responses": {
                "200": {
                    "description": "The comparison",
                    "content": {
                        "application/json": {
                            "schema": _ref("RunComparison"),
                            "examples": {
                                "failed": {
                                    "summary": "A failed sync beside its last success",
                                    "value": COMPARISON,
                                }
                            },
                        }
                    },
                },
                **{str(code): _PROBLEM for code in (400, 401, 403, 404)},
            },
        },
    }
}
