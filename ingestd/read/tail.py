"""Live tail fan-out: committed log rows to the subscribers of GET /v1/tail.

The writer hands over each commit's rows (`publish`, called in the writer task). That call
does O(subscribers) work and never waits: each subscriber gets a reference to the batch in
its own bounded backlog, and does its own filtering and writing. A subscriber whose backlog
is full (a client that stops reading) is cut off and told so, and the rows it missed are
counted; it never slows the writer or the other subscribers.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import orjson
from aiohttp import web

from ingestd.ingest.events import JOB, LEVELNO, RUN_ID, TS, LogRow
from ingestd.ingest.vocab import level_name
from ingestd.read.views import shown_run_id

log = logging.getLogger("ingestd.tail")

#: Rows a subscriber may have waiting before it is cut off.
MAX_BACKLOG_ROWS = 50_000
# Positions in a log row (events.LOG_COLUMNS) beyond those events.py names.
STEP: Final = 5
MESSAGE: Final = 6
ATTRS: Final = 7
SOURCE: Final = 8
ERROR: Final = 9
FINGERPRINT: Final = 11


@dataclass(frozen=True, slots=True)
class LogFilter:
    """The /v1/logs filters, applied to rows in memory."""

    job: str | None = None
    run_id: str | None = None
    levels: frozenset[int] | None = None
    min_level: int | None = None
    step: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None  # lower-cased
    fingerprint: str | None = None
    attrs: tuple[tuple[str, tuple[Any, ...]], ...] = ()

    def matches(self, row: LogRow) -> bool:
        if self.job is not None and row[JOB] != self.job:
            return False
        if self.run_id is not None and row[RUN_ID] != self.run_id:
            return False
        levelno = row[LEVELNO]
        if self.levels is not None and levelno not in self.levels:
            return False
        if self.min_level is not None and levelno < self.min_level:
            return False
        if self.step is not None and row[STEP] != self.step:
            return False
        if self.since is not None and row[TS] < self.since:
            return False
        if self.until is not None and row[TS] >= self.until:
            return False
        if self.fingerprint is not None and row[FINGERPRINT] != self.fingerprint:
            return False
        if self.text is not None and self.text not in row[MESSAGE].lower():
            return False
        return not self.attrs or self._attrs_match(row[ATTRS])

    def _attrs_match(self, text: str | None) -> bool:
        if text is None:
            return False
        try:
            attrs = orjson.loads(text)
        except orjson.JSONDecodeError:
            return False
        for key, accepted in self.attrs:
            if key not in attrs:
                return False
            value = attrs[key]
            # As jsonb containment: 7 matches 7.0, but true is not 1.
            if not any(
                value == a and isinstance(value, bool) == isinstance(a, bool) for a in accepted
            ):
                return False
        return True


def tail_view(row: LogRow) -> dict[str, Any]:
    """A committed row as the API shows a log; its id is not known to the writer."""
    levelno = row[LEVELNO]
    return {
        "id": None,
        "ts": row[TS],
        "received_at": row[1],
        "level": level_name(levelno),
        "levelno": levelno,
        "job": row[JOB],
        "run_id": shown_run_id(row[RUN_ID], row[JOB]),
        "step": row[STEP],
        "message": row[MESSAGE],
        "attrs": _fragment(row[ATTRS]),
        "source": _fragment(row[SOURCE]),
        "error": _fragment(row[ERROR]),
        "fingerprint": row[FINGERPRINT],
    }


def _fragment(text: str | None) -> orjson.Fragment | None:
    return None if text is None else orjson.Fragment(text)


@dataclass(eq=False)
class Subscriber:
    filter: LogFilter
    backlog: deque[list[LogRow]] = field(default_factory=deque)
    backlog_rows: int = 0
    #: Rows this subscriber lost when it was cut off.
    dropped: int = 0
    closed: bool = False
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)

    async def next_batch(self, wait_s: float) -> list[LogRow] | None:
        """The next batch ([] after `wait_s` with nothing new), None once cut off or closed."""
        if not self.backlog and not self.closed:
            self.wakeup.clear()
            try:
                await asyncio.wait_for(self.wakeup.wait(), wait_s)
            except TimeoutError:
                return []
        if self.closed:
            return None
        batch = self.backlog.popleft()
        self.backlog_rows -= len(batch)
        return batch


@dataclass
class TailStats:
    subscribers: int = 0
    published_rows: int = 0
    dropped_rows: int = 0
    cut_off: int = 0


class TailHub:
    def __init__(self, max_backlog_rows: int = MAX_BACKLOG_ROWS, heartbeat_s: float = 15.0):
        self.max_backlog_rows = max_backlog_rows
        self.heartbeat_s = heartbeat_s
        self.subscribers: set[Subscriber] = set()
        self.stats = TailStats()
        self.closed = False

    def subscribe(self, log_filter: LogFilter) -> Subscriber:
        subscriber = Subscriber(log_filter)
        if self.closed:
            subscriber.closed = True
        else:
            self.subscribers.add(subscriber)
        self.stats.subscribers = len(self.subscribers)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)
        self.stats.subscribers = len(self.subscribers)

    def publish(self, rows: list[LogRow]) -> None:
        """The writer's on_committed hook: never blocks, never raises."""
        try:
            self.stats.published_rows += len(rows)
            for subscriber in self.subscribers:
                if subscriber.closed:
                    continue
                if subscriber.backlog_rows + len(rows) > self.max_backlog_rows:
                    self._cut_off(subscriber, len(rows))
                    continue
                subscriber.backlog.append(rows)
                subscriber.backlog_rows += len(rows)
                subscriber.wakeup.set()
        except Exception:  # the writer must never fail because of the tail
            log.exception("live tail fan-out failed")

    def _cut_off(self, subscriber: Subscriber, rows: int) -> None:
        subscriber.dropped = subscriber.backlog_rows + rows
        subscriber.backlog.clear()
        subscriber.backlog_rows = 0
        subscriber.closed = True
        subscriber.wakeup.set()
        self.stats.dropped_rows += subscriber.dropped
        self.stats.cut_off += 1
        log.warning("live tail subscriber too slow: cut off, %d rows not sent", subscriber.dropped)

    def close(self) -> None:
        """Shutdown: every stream ends now."""
        self.closed = True
        for subscriber in self.subscribers:
            subscriber.closed = True
            subscriber.wakeup.set()


#: Live tail subscribers, fed by the writer's commits.
TAIL = web.AppKey("tail", TailHub)
