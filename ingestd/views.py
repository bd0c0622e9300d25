"""Database rows as API objects."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson

from ingestd.vocab import LEVEL_NAMES


def _json(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def run_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "run_id": row["run_id"],
        "job": row["job"],
        "status": row["status"],
        "trigger": row["trigger"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
        "duration_ms": row["duration_ms"],
        "progress": row["progress"],
        "step": row["step"],
        "counters": _json(row["counters"]),
        "result": _json(row["result"]),
        "error": _json(row["error"]),
        "attrs": _json(row["attrs"]),
        "log_counts": {name: row[f"n_{name}"] for name in LEVEL_NAMES},
        "last_event_at": row["last_event_at"],
    }
