"""What the sender passes around: batches, flush markers, and the counters it keeps."""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass


class FlushMarker:
    """Put in the queue by ``flush()``; resolved once everything before it is handled."""

    __slots__ = ("delivered", "done")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.delivered = False

    def resolve(self, delivered: bool) -> None:
        self.delivered = delivered
        self.done.set()


@dataclass
class Batch:
    key: str
    body: bytes
    count: int
    markers: list[FlushMarker]


@dataclass
class ClientStats:
    """Counters of one client since it started (a snapshot)."""

    queued: int = 0
    sent_batches: int = 0
    sent_events: int = 0
    duplicate_batches: int = 0
    rejected_events: int = 0
    dropped_events: int = 0
    bad_batches: int = 0
    dead_events: int = 0
    retries: int = 0
    spooled_batches: int = 0
    spooled_events: int = 0
    replayed_batches: int = 0
    replayed_events: int = 0
    spooling: bool = False


def warn(message: str) -> None:
    try:
        sys.stderr.write(f"ingestd-client: {message}\n")
        sys.stderr.flush()
    except Exception:
        pass
