"""Live tail fan-out: committed log rows to the subscribers of GET /v1/tail.

The writer hands over each commit's rows (`publish`, called in the writer task). When anyone
is subscribed, the rows are serialised once, as Server-Sent Events, into a `Batch` that every
subscriber shares; then each subscriber gets a reference to it in its own backlog, and does
its own filtering and writing. Nothing there waits. A subscriber's backlog is bounded in
bytes, counting the batch it is writing: one whose client stops reading is cut off and told
so, and the lines it missed are counted; it never slows the writer or the other subscribers.
Each subscriber writes at most `PIECE_BYTES` at a time, so beyond the shared batches it holds
about that much, whatever it is sent. The number of subscribers is capped too.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import orjson
from aiohttp import web

from ingestd.ingest.events import JOB, LEVELNO, RUN_ID, SEQ, TS, LogRow
from ingestd.ingest.vocab import level_name
from ingestd.read.views import shown_run_id

log = logging.getLogger("ingestd.tail")

#: Bytes of events a subscriber may have waiting (its backlog plus the batch it is writing).
MAX_BUFFER_BYTES = 8 * 1024 * 1024
MAX_SUBSCRIBERS = 1000
#: What a subscriber writes at a time: far less than a batch, so that a stalled client's
#: socket buffer never holds a copy of a whole batch.
PIECE_BYTES = 64 * 1024
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
        "seq": row[SEQ],
    }


def _fragment(text: str | None) -> orjson.Fragment | None:
    return None if text is None else orjson.Fragment(text)


def sse_event(row: LogRow) -> bytes:
    return b"event: log\ndata: " + orjson.dumps(tail_view(row)) + b"\n\n"


EVERYTHING: Final = LogFilter()


class Batch:
    """One commit's rows with their events, serialised once for all subscribers."""

    __slots__ = ("_cuts", "_indexes", "events", "rows", "size")

    def __init__(self, rows: list[LogRow]) -> None:
        self.rows = rows
        self.events = [sse_event(row) for row in rows]
        self.size = sum(map(len, self.events))
        # Where the pieces of an unfiltered stream begin: found once, not per subscriber.
        self._cuts: list[int] = [0]
        piece = 0
        for i, event in enumerate(self.events):
            if piece and piece + len(event) > PIECE_BYTES:
                self._cuts.append(i)
                piece = 0
            piece += len(event)
        self._cuts.append(len(self.events))
        self._indexes: dict[int, dict[Any, list[int]]] = {}

    def pieces(self, log_filter: LogFilter) -> Iterator[bytes]:
        """The events that pass `log_filter`, joined into pieces of about PIECE_BYTES."""
        events = self.events
        if log_filter == EVERYTHING:
            cuts = self._cuts
            for i in range(len(cuts) - 1):
                yield b"".join(events[cuts[i] : cuts[i + 1]])
            return
        rows = self.rows
        piece: list[bytes] = []
        size = 0
        for i in self._candidates(log_filter):
            if log_filter.matches(rows[i]):
                piece.append(events[i])
                size += len(events[i])
                if size >= PIECE_BYTES:
                    yield b"".join(piece)
                    piece, size = [], 0
        if piece:
            yield b"".join(piece)

    def may_match(self, log_filter: LogFilter) -> bool:
        """False when no row is of the filter's run or job: the subscriber need not wake."""
        return bool(self._candidates(log_filter))

    def _candidates(self, log_filter: LogFilter) -> Sequence[int]:
        """Positions of the rows that may match: with a run or job filter, only that run's
        or job's, found in an index built once per batch (hundreds of subscribers each
        watching one run would otherwise each look at every row)."""
        if log_filter.run_id is not None:
            return self._index(RUN_ID).get(log_filter.run_id, ())
        if log_filter.job is not None:
            return self._index(JOB).get(log_filter.job, ())
        return range(len(self.rows))

    def _index(self, column: int) -> dict[Any, list[int]]:
        index = self._indexes.get(column)
        if index is None:
            index = self._indexes[column] = {}
            for i, row in enumerate(self.rows):
                index.setdefault(row[column], []).append(i)
        return index


NOTHING: Final = Batch([])


class TailFull(Exception):
    """As many subscribers as allowed are streaming already."""


@dataclass(eq=False)
class Subscriber:
    filter: LogFilter
    backlog: deque[Batch] = field(default_factory=deque)
    backlog_rows: int = 0
    #: Bytes held for this subscriber: its backlog and the batch it is writing.
    pending_bytes: int = 0
    writing_bytes: int = 0
    #: Rows this subscriber lost when it was cut off.
    dropped: int = 0
    closed: bool = False
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)

    async def next_batch(self, wait_s: float) -> Batch | None:
        """The next batch (NOTHING after `wait_s` with nothing new), None once cut off or
        closed. The batch returned before counts as written."""
        self.pending_bytes -= self.writing_bytes
        self.writing_bytes = 0
        if not self.backlog and not self.closed:
            self.wakeup.clear()
            try:
                async with asyncio.timeout(wait_s):  # no task per wait, unlike wait_for
                    await self.wakeup.wait()
            except TimeoutError:
                return NOTHING
        if self.closed:
            return None
        batch = self.backlog.popleft()
        self.backlog_rows -= len(batch.rows)
        self.writing_bytes = batch.size
        return batch


@dataclass
class TailStats:
    subscribers: int = 0
    published_rows: int = 0
    dropped_rows: int = 0
    cut_off: int = 0
    #: Subscriptions refused because max_subscribers were streaming.
    refused: int = 0


class TailHub:
    def __init__(
        self,
        max_buffer_bytes: int = MAX_BUFFER_BYTES,
        max_subscribers: int = MAX_SUBSCRIBERS,
        heartbeat_s: float = 15.0,
    ):
        self.max_buffer_bytes = max_buffer_bytes
        self.max_subscribers = max_subscribers
        self.heartbeat_s = heartbeat_s
        self.subscribers: set[Subscriber] = set()
        self.stats = TailStats()
        self.closed = False

    def subscribe(self, log_filter: LogFilter) -> Subscriber:
        """A new subscriber; raises TailFull when max_subscribers are streaming."""
        subscriber = Subscriber(log_filter)
        if self.closed:
            subscriber.closed = True
            return subscriber
        if self.full:
            self.stats.refused += 1
            raise TailFull(f"{self.max_subscribers} live tail streams are open already")
        self.subscribers.add(subscriber)
        self.stats.subscribers = len(self.subscribers)
        return subscriber

    @property
    def full(self) -> bool:
        return len(self.subscribers) >= self.max_subscribers

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)
        self.stats.subscribers = len(self.subscribers)

    def publish(self, rows: list[LogRow]) -> None:
        """The writer's on_committed hook: never blocks, never raises."""
        try:
            self.stats.published_rows += len(rows)
            if not self.subscribers:
                return
            batch = Batch(rows)
            for subscriber in self.subscribers:
                if subscriber.closed or not batch.may_match(subscriber.filter):
                    continue
                # One that is idle takes any batch, however large: it holds nothing else.
                pending = subscriber.pending_bytes
                if pending and pending + batch.size > self.max_buffer_bytes:
                    self._cut_off(subscriber, len(rows))
                    continue
                subscriber.backlog.append(batch)
                subscriber.backlog_rows += len(rows)
                subscriber.pending_bytes += batch.size
                subscriber.wakeup.set()
        except Exception:  # the writer must never fail because of the tail
            log.exception("live tail fan-out failed")

    def _cut_off(self, subscriber: Subscriber, rows: int) -> None:
        subscriber.dropped = subscriber.backlog_rows + rows
        subscriber.backlog.clear()
        subscriber.backlog_rows = 0
        subscriber.pending_bytes = subscriber.writing_bytes
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
