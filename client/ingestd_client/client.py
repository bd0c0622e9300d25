"""``IngestClient``: the public entry point of the library."""

from __future__ import annotations

import asyncio
import atexit
import functools
import logging
import os
import threading
import time
import weakref
from collections.abc import Mapping
from typing import Any, Callable, TypeVar, cast

from . import sink
from .batch import ClientStats
from .config import ClientConfig, PathLike
from .events import error_from_exception, hostname, json_safe, level_number
from .handler import IngestHandler
from .runs import Run, active_run
from .sender import Sender
from .transport import committed

F = TypeVar("F", bound=Callable[..., Any])


class IngestClient:
    """Sends log events and run events to ingestd, without ever hurting the caller.

    >>> client = IngestClient()                       # INGESTD_URL / INGESTD_TOKEN
    >>> logging.getLogger().addHandler(client.handler())
    >>> with client.run("nightly-sync", trigger="cron") as run:
    ...     run.step("FETCH"); run.count(records_fetched=100)

    Events are queued in memory and sent by a background thread in gzip'd NDJSON batches
    (see :class:`~ingestd_client.config.ClientConfig` for sizes and timings). Logging calls
    never block on the network and never raise. When ingestd cannot be reached, batches are
    spooled to disk and replayed in order once it answers again, by this process or the next
    one using the same spool (``ingestd-run --replay`` in a cron line does only that). Under
    ``ingestd-run`` (``INGESTD_RUN_ID`` and ``INGESTD_JOB`` set), logs outside any run of
    this client's belong to the command's run. At interpreter exit pending events are
    delivered within ``close_timeout`` seconds; what is left stays in the spool.

    When the in-memory queue is full (``max_queue``), new log events are dropped — the
    oldest are kept, so a run's beginning is not lost — and counted in ``stats().dropped_events``;
    a warning event saying how many were dropped follows once there is room. Run events are
    never dropped for lack of room.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        spool_dir: PathLike | None = None,
        **options: Any,
    ) -> None:
        self.config = ClientConfig.build(url, token, spool_dir, **options)
        self._runs: dict[str, Run] = {}
        self._runs_lock = threading.Lock()
        self._sender = Sender(self.config, self._heartbeats)
        self._closed = False
        # Under ingestd-run, logs outside any run of ours belong to the command's run.
        inherited = os.environ.get("INGESTD_RUN_ID"), os.environ.get("INGESTD_JOB")
        self._inherited: tuple[str, str] | None = (
            (inherited[0], inherited[1]) if inherited[0] and inherited[1] else None
        )
        atexit.register(self.close)
        if hasattr(os, "register_at_fork"):
            ref = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: _restart_in_child(ref))

    def __repr__(self) -> str:
        return f"<IngestClient {self.config.url}>"

    @property
    def url(self) -> str:
        return self.config.url

    # -- logging ---------------------------------------------------------------------------

    def log(
        self,
        message: str,
        level: int | str = "info",
        *,
        attrs: Mapping[str, Any] | None = None,
        step: str | None = None,
        error: BaseException | None = None,
        run: Run | None = None,
        job: str | None = None,
        source: Mapping[str, Any] | None = None,
    ) -> None:
        """Queue one log event, tied to ``run`` or else to the current run. Never raises.

        ``level`` is a name (``info``, ``warning`` ...) or a number; ``source`` adds to the
        default source (host, pid)."""
        try:
            run = run or active_run()
            event: dict[str, Any] = {
                "ts": time.time(),
                "level": level_number(level),
                "message": str(message),
                "source": {"host": hostname(), "pid": os.getpid(), **(source or {})},
            }
            if run is not None:
                event["run_id"], event["job"] = run.run_id, run.job
                step = step or run.current_step
                seq = run.next_seq()  # numbered even if dropped below: a gap tells
                if seq is not None:
                    event["seq"] = seq
            elif job:
                event["job"] = job
            elif self._inherited is not None:
                event["run_id"], event["job"] = self._inherited
            if step:
                event["step"] = step
            if attrs:
                event["attrs"] = json_safe(attrs)
            if error is not None:
                event["error"] = error_from_exception(error)
            self._sender.put(event)
        except Exception:  # logging must never hurt the caller
            pass

    def handler(self, level: int | str = logging.NOTSET) -> IngestHandler:
        """A :class:`logging.Handler` sending to this client."""
        return IngestHandler(self, level)

    # -- runs ------------------------------------------------------------------------------

    def run(
        self,
        job: str,
        *,
        trigger: str | None = None,
        attrs: Mapping[str, Any] | None = None,
        run_id: str | None = None,
    ) -> Run:
        """A run of ``job``, started by ``with``/``async with`` (or ``run.start()``)."""
        return Run(self, job, trigger=trigger, attrs=attrs, run_id=run_id)

    def job(
        self,
        name: str | None = None,
        *,
        trigger: str | None = None,
        attrs: Mapping[str, Any] | None = None,
    ) -> Callable[[F], F]:
        """Decorator: every call of the function (sync or async) is a run of ``name``
        (default: the function's name). Inside, :func:`ingestd_client.current_run` gives
        the run."""

        def decorate(fn: F) -> F:
            job_name = name or fn.__name__
            if asyncio.iscoroutinefunction(fn):

                @functools.wraps(fn)
                async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                    async with self.run(job_name, trigger=trigger, attrs=attrs):
                        return await fn(*args, **kwargs)

                return cast(F, async_wrapper)

            @functools.wraps(fn)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                with self.run(job_name, trigger=trigger, attrs=attrs):
                    return fn(*args, **kwargs)

            return cast(F, wrapper)

        return decorate

    # -- delivery --------------------------------------------------------------------------

    def flush(self, timeout: float | None = None, *, wait_commit: bool = False) -> bool:
        """Block up to ``timeout`` seconds (default ``close_timeout``) until everything
        logged so far is handled. True when nothing is left pending (delivered, or refused
        as bad); False when events are still queued or spooled.

        Delivered means ingestd has the events queued: they are readable (``GET /v1/logs``)
        a moment later, once its writer commits them. With ``wait_commit=True`` the flush
        also waits for that commit, so a script can read back what it just logged."""
        budget = self.config.close_timeout if timeout is None else timeout
        deadline = time.monotonic() + budget
        if not self._sender.flush(budget):
            return False
        sent = self._sender.unconfirmed
        if not wait_commit or sent is None:
            return True
        # ingestd commits in the order it accepted: the last batch's commit is everyone's.
        url, token = self.config.url, self.config.token
        if not committed(url, token, *sent, deadline - time.monotonic()):
            return False
        if self._sender.unconfirmed is sent:
            self._sender.unconfirmed = None
        return True

    def close(self, timeout: float | None = None) -> None:
        """Deliver pending events within ``timeout`` seconds (default ``close_timeout``),
        spool the rest, and stop the sender. Open runs are left as they are. Idempotent."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        self._sender.close(self.config.close_timeout if timeout is None else timeout)

    def spooled(self) -> int:
        """Batches waiting in the spool directory, this process's or others' (0 without one)."""
        return self._sender.spooled()

    def stats(self) -> ClientStats:
        """Counters: sent, spooled, replayed, dropped, rejected, dead-lettered events ..."""
        return self._sender.snapshot()

    @property
    def dropped(self) -> int:
        """Events dropped so far (full buffer, or ingestd unreachable with no spool room)."""
        return self._sender.stats.dropped_events

    def __enter__(self) -> IngestClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the EventSink that runs and the handler see (sink.py) ---------------------------

    def put_record(self, record: logging.LogRecord, run: Run | None) -> None:
        d = record.__dict__
        if d.get("_ingestd_client") is self:  # already queued by another of our handlers
            return
        d["_ingestd_client"] = self
        if run is None:
            run = d.get("_ingestd_run") or active_run()
        message = record.getMessage() if record.args else None
        if run is None:
            inherited = self._inherited or (None, None)
            self._sender.put((record, message, inherited[0], inherited[1], None))
        else:
            item = (record, message, run.run_id, run.job, run.current_step, run.next_seq())
            self._sender.put(item)

    def put_event(self, item: object) -> None:
        self._sender.put_always(item)

    def run_opened(self, run: Run) -> None:
        run.next_heartbeat = time.monotonic() + self.config.heartbeat_interval
        with self._runs_lock:
            self._runs[run.run_id] = run

    def run_closed(self, run: Run) -> None:
        with self._runs_lock:
            self._runs.pop(run.run_id, None)

    def _heartbeats(self, now: float) -> list[dict[str, Any]]:
        interval = self.config.heartbeat_interval
        if interval <= 0:
            return []
        with self._runs_lock:
            due = [r for r in self._runs.values() if now >= r.next_heartbeat]
        for run in due:
            run.next_heartbeat = now + interval
        ts = time.time()
        return [{"kind": "run", "run_id": r.run_id, "job": r.job, "ts": ts} for r in due]


def _restart_in_child(ref: weakref.ReferenceType[IngestClient]) -> None:
    # A forked child has no sender thread; it gets a fresh one and none of the parent's
    # queued events (the parent sends those).
    client = ref()
    if client is not None and not client._closed:
        client._sender = Sender(client.config, client._heartbeats)
        client._runs_lock = threading.Lock()


sink.new_client = IngestClient
