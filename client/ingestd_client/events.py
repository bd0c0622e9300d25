"""Turning log records, exceptions and arbitrary values into ingestd event objects."""

from __future__ import annotations

import datetime
import itertools
import json
import json.encoder
import logging
import math
import os
import socket
import traceback
import uuid
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Callable, Optional

LEVELS = {
    "trace": 5,
    "debug": 10,
    "info": 20,
    "success": 25,
    "warning": 30,
    "warn": 30,
    "error": 40,
    "err": 40,
    "critical": 50,
    "fatal": 50,
}

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
STANDARD_RECORD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}

MAX_REPR = 2000
MAX_DEPTH = 8

ExcInfo = tuple[type[BaseException], BaseException, Optional[TracebackType]]

_host: str | None = None


def hostname() -> str:
    global _host
    if _host is None:
        try:
            _host = socket.gethostname()
        except OSError:
            _host = "unknown"
    return _host


def level_number(level: int | str) -> int | str:
    """A level as a number when it is known here; unknown names go to the server as given."""
    if isinstance(level, int):
        return level
    return LEVELS.get(level.lower(), level)


def json_safe(value: Any, depth: int = 0) -> Any:
    """``value`` made JSON-encodable: JSON types kept, a few common types converted, the
    rest by ``repr`` (truncated)."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if depth < MAX_DEPTH:
        if isinstance(value, Mapping):
            return {str(k): json_safe(v, depth + 1) for k, v in list(value.items())}
        if isinstance(value, (list, tuple, set, frozenset)):
            return [json_safe(v, depth + 1) for v in list(value)]
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, os.PathLike)):
        return str(value)
    try:
        text = repr(value)
    except Exception as exc:  # a broken __repr__ must not break logging
        text = f"<unrepresentable {type(value).__name__}: {exc!r}>"
    return text if len(text) <= MAX_REPR else text[:MAX_REPR] + "..."


def error_from_exception(exc: BaseException) -> dict[str, Any]:
    """The ``error`` object for an exception: type, message and formatted stack."""
    return error_from_exc_info((type(exc), exc, exc.__traceback__))


def error_from_exc_info(exc_info: ExcInfo) -> dict[str, Any]:
    etype, exc, tb = exc_info
    try:
        stack = "".join(traceback.format_exception(etype, exc, tb))
    except Exception:
        stack = ""
    try:
        message = str(exc)
    except Exception:
        message = "<unprintable exception>"
    return {"type": etype.__qualname__, "message": message, "stack": stack}


def record_attrs(record: logging.LogRecord) -> dict[str, Any]:
    """The ``extra=`` keys of a record (non-standard attributes), made JSON-safe."""
    attrs: dict[str, Any] = {}
    d = record.__dict__
    for key in d.keys() - STANDARD_RECORD_ATTRS:
        if not key.startswith("_ingestd"):
            attrs[key] = json_safe(d[key])
    if record.stack_info:
        attrs["stack_info"] = record.stack_info
    return attrs


def record_event(
    record: logging.LogRecord,
    message: str | None,
    run_id: str | None,
    job: str | None,
    step: str | None,
    seq: int | None = None,
) -> dict[str, Any]:
    """A log event for ``record``; ``message`` is the already formatted message, if any;
    ``seq`` the line's number in its run."""
    if message is None:
        try:
            message = record.getMessage()
        except Exception:
            message = f"{record.msg!s} % {json_safe(record.args)}"
    event: dict[str, Any] = {
        "ts": record.created,
        "level": record.levelno,
        "message": message,
        "source": {
            "logger": record.name,
            "module": record.module,
            "function": record.funcName,
            "line": record.lineno,
            "file": record.pathname,
            "host": hostname(),
            "pid": record.process,
        },
    }
    if run_id is not None:
        event["run_id"] = run_id
        event["job"] = job
    if step is not None:
        event["step"] = step
    if seq is not None:
        event["seq"] = seq
    attrs = record_attrs(record)
    if attrs:
        event["attrs"] = attrs
    if record.exc_info and record.exc_info[0] is not None:
        event["error"] = error_from_exc_info(record.exc_info)
    return event


def _fast_encoder() -> Callable[[Any], str]:
    # The C encoder built once: json.dumps() builds one per call, which costs as much as
    # the encoding itself for a small event. Falls back to the public API.
    std = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
    make = getattr(json.encoder, "c_make_encoder", None)
    basestring = getattr(json.encoder, "c_encode_basestring", None)
    if make is None or basestring is None:
        return std
    c_encode = make(None, repr, basestring, None, ":", ",", False, False, False)

    def encode(value: Any) -> str:
        return "".join(c_encode(value, 0))

    try:
        if encode({"a": [1, 1.5, "é", None, True]}) == std({"a": [1, 1.5, "é", None, True]}):
            return encode
    except Exception:
        pass
    return std


_encode = _fast_encoder()
_encode_safe = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=repr).encode


def encode_line(event: Mapping[str, Any]) -> bytes:
    """One NDJSON line; never raises (values that still do not encode go by ``repr``)."""
    try:
        text = _encode(event)
    except (TypeError, ValueError, RecursionError):
        text = _encode_safe(json_safe(event))
    return text.encode("utf-8", "surrogatepass") + b"\n"


def drop_notice(count: int, max_queue: int) -> dict[str, Any]:
    """The warning event sent once there is room again after events were dropped."""
    return {
        "level": "warning",
        "message": f"ingestd-client dropped {count} log events: its buffer was full",
        "attrs": {"dropped_events": count, "max_queue": max_queue},
        "source": {"logger": "ingestd_client", "host": hostname()},
    }


class EventEncoder:
    """Queued items (a log record's fields as a tuple, an event dict, or an object with
    ``to_event()``) to NDJSON lines. Each log event gets an ``event_id`` unique to this
    process, so ingestd stores it once however often its batch is retried or replayed."""

    def __init__(self) -> None:
        self._session = uuid.uuid4().hex[:16]
        self._seq = itertools.count()

    def encode(self, item: object) -> bytes | None:
        """The item's line, or None for an object that has no event to send; raises on a
        value that cannot be encoded."""
        kind = type(item)
        if kind is tuple:
            event = record_event(*item)  # type: ignore[misc]
        elif kind is dict:
            event = item  # type: ignore[assignment]
        else:
            event = item.to_event()  # type: ignore[attr-defined]
            if event is None:
                return None
        if event.get("kind", "log") == "log" and "event_id" not in event:
            event["event_id"] = f"{self._session}-{next(self._seq)}"
        return encode_line(event)
