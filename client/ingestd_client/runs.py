"""Runs: one execution of a job, with its status, step, progress, counters and result."""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import os
import threading
import time
import uuid
from collections.abc import Mapping, MutableMapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .events import error_from_exception, json_safe

if TYPE_CHECKING:
    from .sink import EventSink

    _AdapterBase = logging.LoggerAdapter[logging.Logger]
else:
    _AdapterBase = logging.LoggerAdapter

_current: contextvars.ContextVar[Run | None] = contextvars.ContextVar(
    "ingestd_current_run", default=None
)
_open: dict[str, Run] = {}

RUN_LOGGER = "ingestd.run"


def current_run() -> Run | None:
    """The run open in the current context (thread or asyncio task), if any."""
    return _current.get()


def active_run() -> Run | None:
    """The run logs should be tied to: the context's run, else the process's only open run
    (so logs from worker threads of a one-run script are tied to it too)."""
    run = _current.get()
    if run is None and len(_open) == 1:
        try:
            return next(iter(_open.values()))
        except (StopIteration, RuntimeError):
            return None
    return run


class RunLogger(_AdapterBase):
    """``run.log``: a logger whose records are tied to its run, from any thread.

    ``extra=`` given on a call is kept (merged with the run binding)."""

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        extra = kwargs.get("extra")
        kwargs["extra"] = {**self.extra, **extra} if extra else self.extra  # type: ignore[dict-item]
        return msg, kwargs

    def success(self, msg: object, *args: object, **kwargs: Any) -> None:
        """Log at ingestd's ``success`` level (25)."""
        self.log(25, msg, *args, **kwargs)


class _StepScope:
    """Returned by ``run.step()``; as a context manager it restores the previous step, or
    no step when there was none (later logs are then untagged; ingestd cannot unset a run's
    step, so the run keeps showing the last step entered)."""

    def __init__(self, run: Run, previous: str | None) -> None:
        self._run, self._previous = run, previous

    def __enter__(self) -> Run:
        return self._run

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            self._run.step(self._previous)
        else:
            self._run.current_step = None


class Run:
    """One run of a job. Use it as ``with client.run("job") as run:`` (or ``async with``).

    Every method only queues events: none blocks, none raises into the job. An exception
    leaving the block marks the run failed (with the traceback) and is re-raised; a normal
    exit marks it success, or warning after :meth:`warning`.
    """

    def __init__(
        self,
        client: EventSink,
        job: str,
        *,
        trigger: str | None = None,
        attrs: Mapping[str, Any] | None = None,
        run_id: str | None = None,
    ) -> None:
        self.client = client
        self.job = job
        self.run_id = run_id or str(uuid.uuid4())
        self.trigger = trigger
        self.current_step: str | None = None
        self.started = False
        self.finished = False
        self.status: str | None = None
        self._attrs = dict(attrs or {})
        self._lock = threading.Lock()
        self._counters: dict[str, float] = {}
        self._progress: float | None = None
        self._counters_dirty = self._progress_dirty = self._update_queued = False
        self._result: dict[str, Any] = {}
        self._error: dict[str, Any] | None = None
        self._outcome: str | None = None  # "warning" or "failed" once decided
        self._tokens: list[contextvars.Token[Run | None]] = []
        self.next_heartbeat = 0.0
        self.log = RunLogger(_run_logger(job), {"_ingestd_run": self})
        # Log lines of the run are numbered from 0 (their seq), so ingestd can tell whether
        # all arrived. count() is one C call: atomic under the GIL, no lock per line.
        self._seq = itertools.count()
        self._pid = os.getpid()

    def __repr__(self) -> str:
        return f"<Run {self.job} {self.run_id} {self.status or 'open'}>"

    def next_seq(self) -> int | None:
        """The number of the run's next log line; None in a forked child, whose numbers
        would repeat its parent's (its lines go unnumbered), or once the run is finished
        (its finish has said how many lines there were)."""
        if self.finished or os.getpid() != self._pid:
            return None
        return next(self._seq)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Run:
        """Record the run as running (done by ``with``; call it yourself otherwise)."""
        if self.started:
            return self
        self.started = True
        self.status = "running"
        event: dict[str, Any] = {
            "kind": "run",
            "run_id": self.run_id,
            "job": self.job,
            "status": "running",
            "started_at": time.time(),
        }
        if self.trigger:
            event["trigger"] = self.trigger
        if self._attrs:
            event["attrs"] = json_safe(self._attrs)
        self.client.put_event(event)
        _open[self.run_id] = self
        self.client.run_opened(self)
        return self

    def finish(self, status: str | None = None, error: BaseException | None = None) -> None:
        """End the run: ``status`` if given, else failed / warning / success as recorded."""
        if self.finished:
            return
        if not self.started:
            self.start()
        if error is not None:
            self._error = error_from_exception(error)
            self._outcome = "failed"
        final = status or self._outcome or "success"
        with self._lock:
            self.finished = True
            event: dict[str, Any] = {
                "kind": "run",
                "run_id": self.run_id,
                "job": self.job,
                "status": final,
                "finished_at": time.time(),
            }
            if self._counters:
                event["counters"] = dict(self._counters)
            if self._progress is not None:
                event["progress"] = 100 if final == "success" else self._progress
            if self.current_step is not None:
                event["step"] = self.current_step
            # The lines numbered so far (taking the next number, which no line gets), so
            # ingestd sees lines lost at the end of the run, not only in between.
            lines = next(self._seq) if os.getpid() == self._pid else None
        if self._result:
            event["result"] = json_safe(self._result)
        if self._error is not None:
            event["error"] = self._error
        self.status = final
        if lines is not None:
            # An event of its own: an ingestd older than log_lines refuses it (unknown field)
            # and still takes the finish.
            count = {"kind": "run", "run_id": self.run_id, "job": self.job, "log_lines": lines}
            self.client.put_event(count)
        self.client.put_event(event)
        _open.pop(self.run_id, None)
        self.client.run_closed(self)

    # -- what a job reports ----------------------------------------------------------------

    def step(self, name: str) -> _StepScope:
        """Enter a phase (``FETCH``, ``SAVE`` ...); logs are tagged with it until the next.
        ``with run.step("X"):`` goes back to the previous step afterwards."""
        previous, self.current_step = self.current_step, name
        self.client.put_event(
            {"kind": "run", "run_id": self.run_id, "job": self.job, "step": name, "ts": time.time()}
        )
        return _StepScope(self, previous)

    def progress(self, percent: float) -> None:
        """Set progress, 0 to 100. Frequent calls are cheap: updates are coalesced."""
        with self._lock:
            self._progress = max(0.0, min(100.0, float(percent)))
            self._progress_dirty = True
            self._queue_update()

    def count(self, **deltas: float) -> None:
        """Add to counters: ``run.count(records_fetched=100, api_cost=0.02)``. The totals
        are sent (ingestd replaces counters key by key)."""
        with self._lock:
            for key, value in deltas.items():
                self._counters[key] = self._counters.get(key, 0) + value
            self._counters_dirty = True
            self._queue_update()

    def set_counters(self, **values: float) -> None:
        """Set counters to absolute values: ``run.set_counters(file_size=123456)``."""
        with self._lock:
            self._counters.update(values)
            self._counters_dirty = True
            self._queue_update()

    @property
    def counters(self) -> dict[str, float]:
        with self._lock:
            return dict(self._counters)

    def set_attrs(self, **attrs: Any) -> None:
        """Add attributes to the run (merged by ingestd): ``run.set_attrs(profile_id=7)``."""
        self._attrs.update(attrs)
        self.client.put_event(
            {
                "kind": "run",
                "run_id": self.run_id,
                "job": self.job,
                "attrs": json_safe(attrs),
                "ts": time.time(),
            }
        )

    def result(self, data: Mapping[str, Any] | None = None, **values: Any) -> None:
        """Merge into the run's result, sent when the run finishes."""
        self._result.update(data or {}, **values)

    def warning(self, message: str, **attrs: Any) -> None:
        """Log a warning tied to the run; the run will end with status ``warning``."""
        if self._outcome != "failed":
            self._outcome = "warning"
        self.log.warning(message, extra=attrs or None)

    def fail(
        self,
        message: str,
        *,
        error_type: str = "Failure",
        stack: str | None = None,
        **attrs: Any,
    ) -> None:
        """Mark the run failed without raising; logs ``message`` as an error."""
        self._outcome = "failed"
        self._error = {"type": error_type, "message": message}
        if stack:
            self._error["stack"] = stack
        self.log.error(message, extra=attrs or None)

    # -- sender side -----------------------------------------------------------------------

    def _queue_update(self) -> None:
        if not self._update_queued and self.started and not self.finished:
            self._update_queued = True
            self.client.put_event(self)

    def to_event(self) -> dict[str, Any] | None:
        """The coalesced progress/counters update (called on the sender thread)."""
        with self._lock:
            self._update_queued = False
            if self.finished or not (self._counters_dirty or self._progress_dirty):
                return None
            event: dict[str, Any] = {
                "kind": "run",
                "run_id": self.run_id,
                "job": self.job,
                "ts": time.time(),
            }
            if self._progress_dirty:
                event["progress"] = self._progress
            if self._counters_dirty:
                event["counters"] = dict(self._counters)
            self._counters_dirty = self._progress_dirty = False
            return event

    # -- context managers ------------------------------------------------------------------

    def __enter__(self) -> Run:
        self.start()
        self._tokens.append(_current.set(self))
        return self

    def __exit__(
        self,
        etype: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._tokens:
            try:
                _current.reset(self._tokens.pop())
            except ValueError:  # left in another context than entered
                _current.set(None)
        if exc is None:
            self.finish()
        elif isinstance(exc, SystemExit):
            code = exc.code
            self.finish(error=exc if code not in (0, None) else None)
        elif isinstance(exc, (KeyboardInterrupt, asyncio.CancelledError, GeneratorExit)):
            self._error = error_from_exception(exc)
            self.finish("cancelled")
        else:
            info = (type(exc), exc, tb)
            self.log.error("run failed: %s: %s", type(exc).__name__, exc, exc_info=info)
            self.finish(error=exc)

    async def __aenter__(self) -> Run:
        return self.__enter__()

    async def __aexit__(
        self,
        etype: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(etype, exc, tb)


def _run_logger(job: str) -> logging.Logger:
    parent = logging.getLogger(RUN_LOGGER)
    if not any(isinstance(h, _RunRouter) for h in parent.handlers):
        parent.addHandler(_RunRouter())
        if parent.level == logging.NOTSET:
            parent.setLevel(logging.DEBUG)
    return logging.getLogger(f"{RUN_LOGGER}.{job}")


class _RunRouter(logging.Handler):
    """Sends ``run.log`` records to the client of their run."""

    def handle(self, record: logging.LogRecord) -> bool:
        run = record.__dict__.get("_ingestd_run")
        if isinstance(run, Run):
            run.client.put_record(record, run)
        return True

    def emit(self, record: logging.LogRecord) -> None:  # pragma: no cover - handle() is used
        self.handle(record)
