"""Examples for /v1/openapi.json: request bodies, per body schema (tests/test_openapi_bodies.py
sends each one to its operation and expects it taken, so they stay true), and answers too
long to write inline (tests/test_openapi.py checks each against its schema)."""

from __future__ import annotations

from typing import Any

from ingestd.ingest.vocab import LEVELS

RUN_ID = "0b6f3c8e-3d7a-4c3e-9f57-8d2a7c1e5b40"


def _examples(*bodies: tuple[str, Any]) -> dict[str, Any]:
    return {name: {"value": body} for name, body in bodies}


EXAMPLES: dict[str, dict[str, Any]] = {
    "Event": _examples(
        ("log", {"message": "fetched 120 rows", "level": "info", "job": "import", "step": "FETCH"}),
        (
            "error",
            {
                "kind": "log",
                "message": "upload failed",
                "level": "error",
                "ts": "2026-01-01T03:00:05Z",
                "run_id": RUN_ID,
                "job": "import",
                "attrs": {"file": "a.csv"},
                "source": {"logger": "import", "function": "upload", "line": 42, "pid": 311},
                "error": {"type": "TimeoutError", "message": "timed out", "stack": "..."},
                "event_id": "import-1-17",
                "seq": 17,
            },
        ),
        (
            "run",
            {
                "kind": "run",
                "run_id": RUN_ID,
                "job": "import",
                "status": "running",
                "trigger": "cron",
                "started_at": 1767236400.5,
                "progress": 40,
                "step": "PARSE",
                "counters": {"rows": 120},
                "attrs": {"host": "db1"},
            },
        ),
        (
            "run end",
            {
                "kind": "run",
                "run_id": RUN_ID,
                "status": "failed",
                "ts": "2026-01-01T03:10:00Z",
                "finished_at": "2026-01-01T03:10:00Z",
                "result": {"imported": 118},
                "error": "2 rows refused",
                "log_lines": 240,
            },
        ),
    ),
    "RunCreate": _examples(
        ("minimal", {"job": "backup"}),
        (
            "full",
            {
                "job": "backup",
                "run_id": RUN_ID,
                "trigger": "manual",
                "attrs": {"host": "db1"},
                "started_at": "2026-01-01T03:00:00Z",
                "status": "running",
                "step": "DUMP",
                "progress": 0,
                "counters": {"tables": 0},
            },
        ),
    ),
    "RunUpdate": _examples(
        (
            "progress",
            {
                "progress": 50,
                "step": "COPY",
                "counters": {"files": 3},
                "attrs": {"disk": "/dev/sdb"},
                "status": "running",
            },
        ),
        ("heartbeat", {}),
    ),
    "RunFinish": _examples(
        ("success", {"status": "ok", "result": {"bytes": 1024}}),
        (
            "failure",
            {
                "status": "failed",
                "error": {"type": "OSError", "message": "disk full"},
                "finished_at": "2026-01-01T03:10:00Z",
                "counters": {"files": 7},
                "step": "COPY",
                "progress": 70,
                "attrs": {"disk": "/dev/sdb"},
                "log_lines": 52,
            },
        ),
    ),
    "JobSettings": _examples(
        ("every", {"every": "1h", "grace": "10m"}),
        (
            "cron",
            {
                "cron": "0 3 * * *",
                "timezone": "Europe/Berlin",
                "grace": 900,
                "max_duration": "1h30m",
                "heartbeat_timeout": "10m",
                "alerts": {
                    "webhooks": [
                        "https://hooks.example.com/a",
                        {"url": "https://hooks.example.com/s", "format": "slack"},
                    ],
                    "apprise": ["tgram://123456789:AAbbCCdd/-100200300", "ntfys://etl-alerts"],
                    "global_webhooks": False,
                    "rules": ["failed", "missed", "failures_in_a_row"],
                    "failures_in_a_row": 5,
                },
                "anomaly": {
                    "enabled": True,
                    "counters": ["records"],
                    "history": 30,
                    "min_history": 10,
                    "k": 4,
                },
            },
        ),
    ),
}


def _level(count: int, with_count: int, p5: float, p50_p95: float) -> dict[str, Any]:
    usual = {"p5": p5, "p50": p50_p95, "p95": p50_p95, "runs": 3}
    return {"count": count, "with": with_count, "usual": usual}


#: GET /v1/runs/{run_id}/compare of the failed vapi-sync in docs/recipes.md (002), as served
#: (the stack shortened).
COMPARISON: dict[str, Any] = {
    "run": {
        "run_id": "76e467de-942b-465c-ba05-7d1ac788955d",
        "job": "vapi-sync",
        "status": "failed",
        "started_at": "2026-12-06T22:00:14.759124+00:00",
        "finished_at": "2026-12-06T22:00:14.760065+00:00",
        "duration_ms": 1,
    },
    "with": {
        "run_id": "a5d0497d-4d2b-477d-a808-aafc9163a7d2",
        "job": "vapi-sync",
        "status": "success",
        "started_at": "2026-12-06T22:00:14.579993+00:00",
        "finished_at": "2026-12-06T22:00:14.580204+00:00",
        "duration_ms": 0,
    },
    "with_reason": "last_success",
    "usual_window": {"runs": 3, "of_at_most": 100},
    "duration": {
        "ms": 1,
        "with_ms": 0,
        "difference_ms": 1,
        "p50_ms": 0.0,
        "p95_ms": 0.0,
        "usual": {"p5": 0.0, "p50": 0.0, "p95": 0.0, "runs": 3},
    },
    "steps": [
        {"step": "START", "in": "both", "ms": 0, "with_ms": 0, "lines": 1, "with_lines": 1},
        {"step": "FETCH", "in": "both", "ms": 0, "with_ms": 0, "lines": 1, "with_lines": 1},
        {"step": "SAVE", "in": "both", "ms": 0, "with_ms": 0, "lines": 3, "with_lines": 3},
        {"step": "END", "in": "with", "ms": None, "with_ms": 0, "lines": 0, "with_lines": 1},
    ],
    "errors": {
        "new": [
            {
                "fingerprint": "2aa8ff18583e96b2",
                "step": "SAVE",
                "count": 1,
                "sample": {
                    "message": "run failed: SaveTimeout: insert of calls 100-120 timed out",
                    "error": {
                        "type": "SaveTimeout",
                        "stack": "Traceback (most recent call last):\n  ...\n"
                        "SaveTimeout: insert of calls 100-120 timed out\n",
                        "message": "insert of calls 100-120 timed out",
                    },
                },
            }
        ],
        "gone": [],
        "both": [],
    },
    "counters": [
        {
            "key": "records_inserted",
            "value": 100,
            "with": 120,
            "usual": {"p5": 120.0, "p50": 120.0, "p95": 120.0, "runs": 3},
        }
    ],
    "attrs": [],
    "summary": [
        "new error in SAVE: 'run failed: SaveTimeout: insert of calls 100-120 timed out' \u00d71",
        "took 1 ms, usually 0 ms (0 ms in the last success)",
        "step END did not run (it did in the last success)",
        "records_inserted 100, usually 120",
    ],
    "log_counts": {
        **{level: _level(0, 0, 0.0, 0.0) for level in LEVELS},
        "info": _level(4, 6, 3.3, 6.0),
        "error": _level(1, 0, 0.0, 0.0),
    },
}
