"""Example request bodies for /v1/openapi.json, per body schema. tests/test_openapi_bodies.py
sends each one to its operation and expects it taken, so they stay true."""

from __future__ import annotations

from typing import Any

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
