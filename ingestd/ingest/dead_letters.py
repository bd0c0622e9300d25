"""Where an event the database refused is kept: the dead_letters table, in the first form
the table takes.

1. As sent: the event as a JSON document (`kind` says log or run).
2. Escaped: when jsonb refuses even that (a NUL or a surrogate that got past validation),
   {"kind", "escaped"}, where `escaped` is the event's JSON text with every character
   beyond ASCII, NUL included, as a \\u escape: a plain ASCII string, which jsonb always
   takes, and which json.loads turns back into the event as it was.

An event that no form gets in is dropped by the writer, counted and logged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson

from ingestd.db.database import Conn
from ingestd.ingest import sql as queries
from ingestd.ingest.events import LOG_COLUMNS, RECEIVED_AT, LogRow, RunEvent
from ingestd.ingest.storable import storable

_JSONB_COLUMNS = ("attrs", "source", "error")


def _fields(event: LogRow | RunEvent) -> dict[str, Any]:
    if isinstance(event, RunEvent):
        return {"kind": "run", **{name: getattr(event, name) for name in RunEvent.__slots__}}
    return {"kind": "log", **dict(zip(LOG_COLUMNS, event, strict=True))}


def as_sent(event: LogRow | RunEvent) -> str:
    """The event as a JSON document, its jsonb fields as objects."""
    document = _fields(event)
    names = ("result", "error") if document["kind"] == "run" else _JSONB_COLUMNS
    for name in names:
        if document[name] is not None:
            document[name] = orjson.loads(document[name])
    return orjson.dumps(document).decode()


def escaped(event: LogRow | RunEvent) -> str:
    """The event's JSON text, all ASCII, as one string in a document jsonb cannot refuse.
    The jsonb fields stay text as they were: parsing them may be what fails."""
    document = _fields(event)
    text = json.dumps(document, ensure_ascii=True, default=_isoformat)
    return orjson.dumps({"kind": document["kind"], "escaped": text}).decode()


#: The forms, in the order tried.
FORMS: tuple[Callable[[LogRow | RunEvent], str], ...] = (as_sent, escaped)


def _isoformat(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


async def record(conn: Conn, event: LogRow | RunEvent, reason: str, document: str) -> None:
    received_at = event.ts if isinstance(event, RunEvent) else event[RECEIVED_AT]
    await conn.execute(queries.DEAD_LETTER, received_at, storable(reason), document)
