"""Database rows as API objects."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson

from ingestd.ingest.events import loose_key
from ingestd.ingest.vocab import LEVEL_NAMES, level_name
from ingestd.read.completeness import completeness


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
        "log_completeness": completeness(row),
    }


def _fragment(text: str | None) -> orjson.Fragment | None:
    """jsonb text straight into the answer: no parse and re-dump per row."""
    return None if text is None else orjson.Fragment(text)


def shown_run_id(run_id: str, job: str | None) -> str | None:
    """A log outside any run carries its job's loose key; the API shows no run for it."""
    if run_id[14] == "5" and run_id == loose_key(job):
        return None
    return run_id


def log_view(row: asyncpg.Record) -> dict[str, Any]:
    levelno = row["levelno"]
    return {
        "id": row["id"],
        "ts": row["ts"],
        "received_at": row["received_at"],
        "level": level_name(levelno),
        "levelno": levelno,
        "job": row["job"],
        "run_id": shown_run_id(row["run_id"], row["job"]),
        "step": row["step"],
        "message": row["message"],
        "attrs": _fragment(row["attrs"]),
        "source": _fragment(row["source"]),
        "error": _fragment(row["error"]),
        "fingerprint": row["fingerprint"],
        "seq": row["seq"],
    }
