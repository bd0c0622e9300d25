"""Parcels as bytes, for the spool: the validated events, not the raw request, so a replay
needs no second validation and cannot be rejected by a changed limit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from ingestd.events import Event, LogRow, RunEvent
from ingestd.queue import Parcel

_RUN_TIMES = ("ts", "started_at", "finished_at")


def encode(parcel: Parcel) -> bytes:
    events: list[Any] = []
    for event in parcel.events:
        if isinstance(event, RunEvent):
            fields = {name: getattr(event, name) for name in RunEvent.__slots__}
            events.append({k: v for k, v in fields.items() if v is not None and v != {}})
        else:
            events.append(event)  # orjson writes its datetimes as RFC 3339
    return orjson.dumps({"k": parcel.idempotency_key, "r": parcel.response.decode(), "e": events})


def decode(payload: bytes, origin: str, seq: int) -> Parcel:
    document = orjson.loads(payload)
    events: list[Event] = []
    for item in document["e"]:
        if type(item) is list:
            item[0] = datetime.fromisoformat(item[0])
            item[1] = datetime.fromisoformat(item[1])
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
