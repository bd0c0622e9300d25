"""A parcel: the accepted events of one request, as they travel from the handler to the
writer, and as bytes for the spool: the validated events, not the raw request, so a replay
needs no second validation and cannot be rejected by a changed limit."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from ingestd.ingest.events import LOG_COLUMNS, Event, LogRow, RunEvent


@dataclass(slots=True, eq=False)
class Parcel:
    """The accepted events of one request, in order, with what its sender waits on."""

    events: list[Event]
    nbytes: int
    idempotency_key: str | None = None
    #: The answer given for the request, stored with its idempotency key.
    response: bytes = b""
    #: Set once every event is committed or dead-lettered (for ?wait=commit and REST).
    done: asyncio.Future[None] | None = None
    #: The idempotency key is already stored (a parcel split across retries).
    key_recorded: bool = False
    enqueued_at: float = field(default_factory=time.monotonic)
    #: Who numbered the parcel (this process, or the spool) and its number, increasing per
    #: origin. Committed with the rows, so a retry after an unknown outcome is recognised.
    origin: str = ""
    seq: int = 0
    #: Only the last piece of a parcel split by the writer moves the checkpoint.
    checkpoint: bool = True
    #: Events and bytes it counts for in the memory bound (none when read from the spool).
    held_events: int = 0
    held_bytes: int = 0


_RUN_TIMES = ("ts", "started_at", "finished_at")


def to_bytes(parcel: Parcel) -> bytes:
    events: list[Any] = []
    for event in parcel.events:
        if isinstance(event, RunEvent):
            fields = {name: getattr(event, name) for name in RunEvent.__slots__}
            events.append({k: v for k, v in fields.items() if v is not None and v != {}})
        else:
            events.append(event)  # orjson writes its datetimes as RFC 3339
    return orjson.dumps({"k": parcel.idempotency_key, "r": parcel.response.decode(), "e": events})


def from_bytes(payload: bytes, origin: str, seq: int) -> Parcel:
    document = orjson.loads(payload)
    events: list[Event] = []
    for item in document["e"]:
        if type(item) is list:
            item[0] = datetime.fromisoformat(item[0])
            item[1] = datetime.fromisoformat(item[1])
            if len(item) < len(LOG_COLUMNS):  # spooled by a version with fewer columns
                item.extend([None] * (len(LOG_COLUMNS) - len(item)))
            row: LogRow = tuple(item)
            events.append(row)
        else:
            for name in _RUN_TIMES:
                if name in item:
                    item[name] = datetime.fromisoformat(item[name])
            events.append(RunEvent(**item))
    return Parcel(
        events,
        len(payload),
        document["k"],
        document["r"].encode(),
        origin=origin,
        seq=seq,
    )
