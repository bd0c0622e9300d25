"""Cutting a batch in halves, to leave the event the database refuses standing alone.

A single parcel is cut too. Its pieces cannot move the spool's checkpoint (that would skip
the rest of it), so the log rows of a parcel being cut get event ids of ingestd's own, from
the parcel's origin, number and each row's place: cut again on a retry or a replay, the
same rows get the same ids, and the event-id check drops those stored before.
"""

from __future__ import annotations

from ingestd.ingest.events import EVENT_ID, Event, with_column
from ingestd.ingest.parcel import Parcel

#: Event ids the writer gives the log rows of a parcel it cuts in pieces start so.
PIECE_ID = "ingestd-piece:"


def halves(parcels: list[Parcel]) -> tuple[list[Parcel], list[Parcel]]:
    """Two halves by event count; a single parcel is cut in two, its key kept by the first."""
    parcels = [p for p in parcels if p.events]
    if len(parcels) > 1:
        total = sum(len(p.events) for p in parcels)
        running, cut = 0, 1
        for index, parcel in enumerate(parcels):
            running += len(parcel.events)
            if running >= total / 2:
                cut = max(1, min(index + 1, len(parcels) - 1))
                break
        return parcels[:cut], parcels[cut:]
    only = parcels[0]
    events = with_piece_ids(only)
    middle = len(events) // 2
    # The head records the key (unless recorded before); the tail moves the checkpoint.
    head = Parcel(events[:middle], 0, only.idempotency_key, only.response,
                  key_recorded=only.key_recorded, origin=only.origin, seq=only.seq,
                  checkpoint=False)  # fmt: skip
    tail = Parcel(events[middle:], 0, None, b"", key_recorded=True, origin=only.origin,
                  seq=only.seq, checkpoint=only.checkpoint)  # fmt: skip
    return [head], [tail]


def as_sent(event: Event) -> Event:
    """The event as it was sent (a dead letter shows no id of ours)."""
    if type(event) is tuple and (event[EVENT_ID] or "").startswith(PIECE_ID):
        return with_column(event, EVENT_ID, None)
    return event


def with_piece_ids(parcel: Parcel) -> list[Event]:
    """The parcel's events, each log row without an event_id given one from the parcel's
    origin, number and its place in it. Pieces of a cut parcel cannot move the checkpoint,
    so these ids are what recognises a piece written before: by an attempt whose outcome
    was unknown, or before a crash, when the spool is replayed (and cut the same way)."""
    if not parcel.origin:
        return parcel.events
    prefix = f"{PIECE_ID}{parcel.origin}:{parcel.seq}:"
    return [
        with_column(event, EVENT_ID, prefix + str(index))
        if type(event) is tuple and event[EVENT_ID] is None
        else event
        for index, event in enumerate(parcel.events)
    ]
