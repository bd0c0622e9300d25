"""The background sender: buffer → batches → ingestd, or → spool when ingestd is away.

Callers only ever append to a deque (no lock, no I/O). One daemon thread turns what is
queued into gzip'd NDJSON batches, POSTs them with an idempotency key, retries with jittered
backoff, and when ingestd stays unreachable writes batches to the spool and keeps doing so —
so the order of events is kept — until a replay of the spool succeeds.
"""

from __future__ import annotations

import contextlib
import gzip
import threading
import time
import uuid
from collections import deque
from typing import Any, Callable

from .batch import Batch, ClientStats, FlushMarker, warn
from .config import ClientConfig
from .events import EventEncoder, drop_notice
from .spool import Spool
from .transport import Answer, Transport, Unreachable


class Sender:
    def __init__(
        self,
        config: ClientConfig,
        heartbeats: Callable[[float], list[dict[str, Any]]] | None = None,
    ) -> None:
        self.config = config
        self.queue: deque[object] = deque()
        self.wake = threading.Event()
        self.stats = ClientStats()
        self.transport = Transport(config.url, config.token, config.wait_for_commit)
        self.spool: Spool | None = None
        if config.spool:
            try:
                self.spool = Spool(config.spool_dir, config.spool_max_bytes)
            except OSError as exc:
                warn(f"spool disabled, cannot use {config.spool_dir}: {exc}")
        self._heartbeats = heartbeats
        self._max_queue = config.max_queue
        self._batch_events = config.batch_max_events
        self._take_lock = threading.Lock()
        self._drop_lock = threading.Lock()
        self._stop = threading.Event()
        self._closing = False
        self._closed = False
        self._abandoned = False
        self._deadline = 0.0
        self._inflight: Batch | None = None
        self._spooling = False
        self._foreign = self.spool is not None and bool(self.spool.files())
        self._next_probe = 0.0
        self._failures = 0
        self._waiting: list[FlushMarker] = []
        self._dropped_reported = 0
        self._warned: set[str] = set()
        self._encoder = EventEncoder()
        # The last batch ingestd acknowledged before committing it (key, body), for
        # flush(wait_commit=True); None when every answer already meant "committed".
        self.unconfirmed: tuple[str, bytes] | None = None
        self._thread = threading.Thread(target=self._main, name="ingestd-sender", daemon=True)
        self._thread.start()

    # -- calling threads -------------------------------------------------------------------

    def put(self, item: object) -> None:
        """Queue a log item; drops it (counted) when the buffer is full. Never blocks."""
        q = self.queue
        if len(q) >= self._max_queue or self._closed:
            with self._drop_lock:
                self.stats.dropped_events += 1
            return
        q.append(item)
        if len(q) >= self._batch_events and not self.wake.is_set():
            self.wake.set()

    def put_always(self, item: object) -> None:
        """Queue an item that must not be dropped for lack of room (run events)."""
        self.queue.append(item)
        if len(self.queue) >= self._batch_events:
            self.wake.set()

    def flush(self, timeout: float) -> bool:
        """Wait until what was queued before is delivered; False if still pending."""
        if self._closed:
            return False
        marker = FlushMarker()
        self.queue.append(marker)
        self._next_probe = 0.0
        self.wake.set()
        return marker.done.wait(max(0.0, timeout)) and marker.delivered

    def close(self, timeout: float) -> None:
        """Deliver within ``timeout`` seconds what can be; spool the rest; stop the thread."""
        if self._closed:
            return
        self._closed = True
        # Network calls end a little before the deadline so there is time left to spool.
        self._deadline = time.monotonic() + max(0.0, timeout - min(0.5, timeout * 0.1))
        self._next_probe = 0.0
        self._closing = True
        self._stop.set()
        self.wake.set()
        self._thread.join(max(0.0, timeout))
        # Whatever the thread did not get to (it may still be stuck in a request) is spooled
        # here; a batch that also reaches ingestd meanwhile is deduplicated by its key.
        with self._take_lock:
            self._abandoned = True
            inflight = self._inflight
        if inflight is not None:
            self._spool_batch(inflight, quiet=True)
        while True:
            batch = self._take(force=True)
            if batch is None:
                break
            self._spool_batch(batch, quiet=True)
        for marker in self._waiting:
            marker.resolve(False)
        self._waiting.clear()

    def spooled(self) -> int:
        return len(self.spool.files()) if self.spool is not None else 0

    def snapshot(self) -> ClientStats:
        stats = ClientStats(**vars(self.stats))
        stats.queued = len(self.queue)
        stats.spooling = self._spooling
        return stats

    # -- the sender thread -----------------------------------------------------------------

    def _main(self) -> None:
        while True:
            self.wake.wait(self._wait_time())
            self.wake.clear()
            if self._abandoned:
                break
            try:
                self._cycle()
            except Exception as exc:  # the sender must outlive any bug
                self._warn_once("internal", f"sender error: {exc!r}")
            if self._closing:
                break
        self.transport.close()
        if self.spool is not None:
            self.spool.unlock()

    def _wait_time(self) -> float:
        wait = self.config.flush_interval
        if self._spooling or self._foreign:
            wait = min(wait, max(0.0, self._next_probe - time.monotonic()))
        return max(0.01, wait)

    def _cycle(self) -> None:
        now = time.monotonic()
        if self._heartbeats is not None:
            for event in self._heartbeats(now):
                self.queue.append(event)
        dropped = self.stats.dropped_events
        if dropped > self._dropped_reported:
            self.queue.append(drop_notice(dropped - self._dropped_reported, self._max_queue))
            self._dropped_reported = dropped
        if (self._spooling or self._foreign) and now >= self._next_probe:
            self._replay()
        while not self._abandoned:
            batch = self._take()
            if batch is None:
                break
            self._deliver(batch)

    def _encode(self, item: object) -> bytes | None:
        try:
            return self._encoder.encode(item)
        except Exception as exc:
            self._warn_once("encode", f"could not encode an event: {exc!r}")
            with self._drop_lock:
                self.stats.dropped_events += 1
            return None

    def _take(self, force: bool = False) -> Batch | None:
        with self._take_lock:
            if self._abandoned and not force:
                return None
            lines: list[bytes] = []
            markers: list[FlushMarker] = []
            size = 0
            limit_events, limit_bytes = self._batch_events, self.config.batch_max_bytes
            q = self.queue
            while q and len(lines) < limit_events and size < limit_bytes:
                item = q.popleft()
                if type(item) is FlushMarker:
                    markers.append(item)
                    break
                line = self._encode(item)
                if line is not None:
                    lines.append(line)
                    size += len(line)
            if not lines and not markers:
                return None
            body = gzip.compress(b"".join(lines), self.config.gzip_level) if lines else b""
            batch = Batch(uuid.uuid4().hex, body, len(lines), markers)
            self._inflight = batch
            return batch

    def _request_timeout(self) -> float:
        if self._closing:
            return min(self.config.request_timeout, self._deadline - time.monotonic())
        return self.config.request_timeout

    def _deliver(self, batch: Batch) -> None:
        if batch.count == 0:
            self._done(batch, delivered=not self._spooling)
            return
        if self._spooling:
            self._spool_batch(batch)
            return
        retry_after: float | None = None
        reason = ""
        for attempt in range(max(1, self.config.max_attempts)):
            timeout = self._request_timeout()
            if timeout <= 0:
                break
            if attempt:
                self.stats.retries += 1
            try:
                answer = self.transport.post(batch.body, batch.key, timeout)
            except Unreachable as exc:
                reason, retry_after = str(exc), None
            else:
                if answer.ok:
                    self._accepted(batch, answer, replay=False)
                    self._done(batch, delivered=True)
                    return
                if answer.status == 413 and batch.count > 1:
                    self._split(batch)
                    return
                if not answer.retryable:
                    self._bad(batch.key, batch.body, batch.count, answer)
                    self._done(batch, delivered=True)
                    return
                reason, retry_after = f"HTTP {answer.status} {answer.detail}", answer.retry_after
            delay = self.config.backoff(attempt, retry_after)
            if attempt + 1 >= self.config.max_attempts or delay > 2.0 or self._closing:
                break
            self._stop.wait(delay)
        self._enter_spooling(reason, retry_after)
        self._spool_batch(batch)

    def _split(self, batch: Batch) -> None:
        lines = gzip.decompress(batch.body).splitlines(keepends=True)
        half = len(lines) // 2
        for part, markers in ((lines[:half], []), (lines[half:], batch.markers)):
            body = gzip.compress(b"".join(part), self.config.gzip_level)
            self._deliver(Batch(uuid.uuid4().hex, body, len(part), markers))

    def _done(self, batch: Batch, delivered: bool) -> None:
        if self._inflight is batch:
            self._inflight = None
        for marker in batch.markers:
            if delivered:
                marker.resolve(True)
            else:
                self._waiting.append(marker)

    def _accepted(self, batch: Batch, answer: Answer, replay: bool) -> None:
        if not self.config.wait_for_commit:
            self.unconfirmed = (batch.key, batch.body)
        if replay:
            self.stats.replayed_batches += 1
            self.stats.replayed_events += answer.accepted if not answer.duplicate else 0
        else:
            self.stats.sent_batches += 1
            self.stats.sent_events += batch.count
        if answer.duplicate:
            self.stats.duplicate_batches += 1
        if answer.rejected:
            self.stats.rejected_events += len(answer.rejected)
            first = answer.rejected[0]
            self._warn_once("rejected", f"ingestd rejected events, e.g. {first!r}")

    def _bad(self, key: str, body: bytes, count: int, answer: Answer) -> None:
        self.stats.bad_batches += 1
        self.stats.dead_events += count
        reason = f"HTTP {answer.status}: {answer.detail}"
        where = "dropped"
        if self.spool is not None:
            with contextlib.suppress(OSError):
                where = f"kept in {self.spool.write_dead(key, body, reason).parent}"
        self._warn_once(
            f"bad-{answer.status}",
            f"ingestd refused a batch of {count} events ({reason}); not retried, {where}",
        )

    def _enter_spooling(self, reason: str, retry_after: float | None) -> None:
        if not self._spooling and self.spool is not None:
            self._warn_once(
                "down",
                f"ingestd at {self.config.url} unreachable ({reason}); "
                f"spooling to {self.spool.directory}",
            )
        self._spooling = self.spool is not None
        self._next_probe = time.monotonic() + self.config.backoff(self._failures, retry_after)
        self._failures += 1

    def _spool_batch(self, batch: Batch, quiet: bool = False) -> None:
        if batch.count == 0:
            self._done(batch, delivered=not self._spooling)
            return
        spool = self.spool
        if spool is None or spool.full:
            self.stats.dropped_events += batch.count
            if not quiet:
                self._warn_once(
                    "spool-off", "ingestd unreachable and no room to spool: dropping events"
                )
            self._done(batch, delivered=True)
            return
        try:
            spool.write(batch.key, batch.body)
        except OSError as exc:
            self.stats.dropped_events += batch.count
            self._warn_once("spool-error", f"cannot write spool: {exc}; dropping events")
            self._done(batch, delivered=True)
            return
        self.stats.spooled_batches += 1
        self.stats.spooled_events += batch.count
        self._spooling = True
        self._done(batch, delivered=False)

    def _replay(self) -> None:
        spool = self.spool
        if spool is None:
            self._spooling = self._foreign = False
            return
        self._foreign = False
        if not spool.try_lock():  # another process is replaying this spool, ours too
            if self._spooling and not spool.own_pending():
                self._leave_spooling()
            else:
                self._next_probe = time.monotonic() + self.config.backoff(self._failures, None)
            return
        try:
            while not self._abandoned:
                if len(self.queue) >= self._batch_events:
                    self._spooling = True  # keep memory bounded and the order intact
                    self._spool_queue()
                files = spool.files()
                if not files:
                    self._leave_spooling()
                    return
                path = files[0]
                body = spool.read(path)
                if body is None:  # replayed and removed by someone else meanwhile
                    continue
                timeout = self._request_timeout()
                if timeout <= 0:
                    return
                try:
                    answer = self.transport.post(body, Spool.key_of(path), timeout)
                except Unreachable as exc:
                    self._enter_spooling(str(exc), None)
                    return
                if answer.ok:
                    spool.remove(path)
                    self._accepted(Batch(Spool.key_of(path), body, 0, []), answer, replay=True)
                    self._failures = 0
                elif answer.retryable:
                    self._enter_spooling(f"HTTP {answer.status}", answer.retry_after)
                    return
                else:
                    self.stats.bad_batches += 1
                    spool.dead_letter(path, f"HTTP {answer.status}: {answer.detail}")
                    self._warn_once(
                        f"bad-{answer.status}",
                        f"ingestd refused a spooled batch "
                        f"(HTTP {answer.status}: {answer.detail}); moved to dead/",
                    )
        finally:
            spool.unlock()

    def _spool_queue(self) -> None:
        while len(self.queue) >= self._batch_events:
            batch = self._take()
            if batch is None:
                return
            self._spool_batch(batch)

    def _leave_spooling(self) -> None:
        if self._spooling:
            self._warn_once("back", f"ingestd at {self.config.url} reachable again; spool replayed")
        self._spooling = False
        self._failures = 0
        waiting, self._waiting = self._waiting, []
        for marker in waiting:
            marker.resolve(True)

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warn(message)
