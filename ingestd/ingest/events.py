"""One event, validated: a JSON object in, a COPY-ready log row or a run event out.

This is the per-event hot path (the first wall is Python work, not COPY), so the common
case does as little as it can: canonical UUIDs pass a regex, attrs are dumped once, and
the rare cases (NUL characters, odd UUID spellings, deep nesting) take slower branches.

What PostgreSQL refuses in text and jsonb (U+0000, its escape \\u0000, lone surrogates) is
made storable, not refused: U+FFFD in every string of an event, object keys included.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final

import orjson

from ingestd.ingest.fingerprint import fingerprint
from ingestd.ingest.storable import clip_text, has_unstorable, storable, storable_value
from ingestd.ingest.vocab import LEVEL_ALIASES, MAX_LEVELNO, MIN_LEVELNO, STATUS_ALIASES

#: Column order of a log row, as the writer COPYs it.
LOG_COLUMNS = (
    "ts",
    "received_at",
    "levelno",
    "job",
    "run_id",
    "step",
    "message",
    "attrs",
    "source",
    "error",
    "event_id",
    "fingerprint",
    "seq",
)
# Positions in a log row, for the few places that read one back.
TS: Final = 0
RECEIVED_AT: Final = 1
LEVELNO: Final = 2
JOB: Final = 3
RUN_ID: Final = 4
EVENT_ID: Final = 10
SEQ: Final = 12

LogRow = tuple[
    datetime, datetime, int, str | None, str, str | None, str, str | None, str | None,
    str | None, str | None, str | None, int | None,
]  # fmt: skip


def with_column(row: LogRow, index: int, value: Any) -> LogRow:
    """The row with one column changed (rows are tuples, in the order COPY takes them)."""
    return (*row[:index], value, *row[index + 1 :])


MAX_NAME_CHARS = 200
#: A line's number in its run goes in an integer column.
# The lines a run expects (its highest seq + 1) must fit PostgreSQL's integer, as runs_gaps_idx
# and the gap lookup compute them: the highest seq is one below int4's top.
MAX_SEQ = 2**31 - 2
MAX_LOG_LINES = MAX_SEQ + 1
ERROR_LEVELNO = 40
# Accepted event times: what PostgreSQL and Python both represent without surprises.
MIN_TS = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TS = datetime(9999, 12, 31, tzinfo=UTC)
MAX_EPOCH = MAX_TS.timestamp()

_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
_LOOSE_NAMESPACE = uuid.UUID("5f0c2b2e-6a43-4f0e-9d1c-2f1b0f6c7a10")
#: What text and jsonb refuse: NUL, and surrogates (a str holding them is not UTF-8).
_RUN_FIELDS = frozenset(
    {"kind", "run_id", "job", "status", "trigger", "started_at", "finished_at", "progress",
     "step", "counters", "result", "error", "attrs", "ts", "log_lines"}
)  # fmt: skip


class EventError(ValueError):
    """The event is invalid; the message says which field and why."""


@dataclass(frozen=True, slots=True)
class Limits:
    max_message_bytes: int = 64 * 1024
    max_attrs_bytes: int = 64 * 1024
    max_attrs_depth: int = 16


@dataclass(slots=True)
class RunEvent:
    """A change to one run; None means 'not given'. Applied in the order received."""

    run_id: str
    ts: datetime
    job: str | None = None
    status: str | None = None
    trigger: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    progress: float | None = None
    step: str | None = None
    counters: dict[str, Any] = field(default_factory=dict)
    result: str | None = None
    error: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    #: How many log lines the run numbered (seq 0 to log_lines - 1), as its finish says.
    log_lines: int | None = None


Event = LogRow | RunEvent


@lru_cache(maxsize=4096)
def loose_key(job: str | None) -> str:
    """The run key of logs that belong to no run.

    runs and logs share one distribution key (run_id, for Citus), so a log outside any run
    still needs one: a name-based UUID per job, which no client-made run id collides with.
    """
    return str(uuid.uuid5(_LOOSE_NAMESPACE, job or ""))


def in_run(row: LogRow) -> bool:
    run_id = row[RUN_ID]
    # uuid5 ids have '5' at index 14: only those can be a loose key, so most rows skip the hash.
    return run_id[14] != "5" or run_id != loose_key(row[JOB])


#: Run ids seen lately: a run's events repeat its id, so most lookups skip the regex.
_KNOWN_IDS: set[str] = set()
_KNOWN_IDS_MAX = 65536


def parse_uuid(value: Any, name: str) -> str:
    if type(value) is str:
        if value in _KNOWN_IDS:
            return value
        if _CANONICAL_UUID.match(value):
            if len(_KNOWN_IDS) >= _KNOWN_IDS_MAX:
                _KNOWN_IDS.clear()
            _KNOWN_IDS.add(value)
            return value
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
    raise EventError(f"{name} must be a UUID, not {_show(value)}")


def parse_time(value: Any, name: str) -> datetime:
    """RFC 3339 text (zone optional, UTC assumed) or epoch seconds, fractions allowed."""
    if type(value) is str:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise EventError(
                f"{name} must be RFC 3339 or epoch seconds, not {_show(value)}"
            ) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        if not MIN_TS <= parsed <= MAX_TS:
            raise EventError(f"{name} must be between 1970 and 9999, not {value!r}")
        return parsed
    if type(value) in (int, float):
        if not (math.isfinite(value) and 0 <= value <= MAX_EPOCH):
            hint = " (milliseconds? send seconds)" if value > MAX_EPOCH else ""
            raise EventError(f"{name} is out of range{hint}: {value!r}")
        return datetime.fromtimestamp(value, UTC)
    raise EventError(f"{name} must be RFC 3339 text or epoch seconds, not {_type(value)}")


def parse_level(value: Any) -> int:
    if type(value) is str:
        levelno = LEVEL_ALIASES.get(value) or LEVEL_ALIASES.get(value.lower())
        if levelno is None:
            raise EventError(
                f"level {_show(value)} is unknown; use trace, debug, info, success, warning, "
                "error, critical or a number"
            )
        return levelno
    is_whole = type(value) is int or (type(value) is float and value.is_integer())
    if is_whole and MIN_LEVELNO <= value <= MAX_LEVELNO:
        return int(value)
    raise EventError(f"level must be a name or a number from 0 to 100, not {_show(value)}")


def parse_status(value: Any) -> str:
    if type(value) is str:
        status = STATUS_ALIASES.get(value.lower())
        if status is not None:
            return status
    raise EventError(
        f"status {_show(value)} is unknown; use pending, running, success, warning, failed, "
        "cancelled or timed_out"
    )


def _name(value: Any, name: str) -> str:
    """A short identifier-like string: job, step, trigger, event_id."""
    if type(value) is not str or not value:
        raise EventError(f"{name} must be a non-empty string, not {_show(value)}")
    if len(value) > MAX_NAME_CHARS:
        raise EventError(f"{name} must be at most {MAX_NAME_CHARS} characters")
    return storable(value) if has_unstorable(value) else value


def _optional_name(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    return None if value is None else _name(value, key)


def _depth(value: Any) -> int:
    if type(value) is dict:
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if type(value) is list:
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def dump_object(value: Any, name: str, limits: Limits) -> str:
    """Validate a JSON object field and return it as jsonb text."""
    return _dump(value, name, limits)[0].decode()


def _dump(value: Any, name: str, limits: Limits) -> tuple[bytes, Any]:
    """Validate a JSON object field: (its jsonb text, the object), both made storable."""
    if type(value) is not dict:
        raise EventError(f"{name} must be an object, not {_type(value)}")
    try:
        text = orjson.dumps(value)
    except orjson.JSONEncodeError:
        value = storable_value(value)  # a surrogate, say; what then fails is refused
        text = _encode(value, name)
    if len(text) > limits.max_attrs_bytes:
        raise EventError(f"{name} is {len(text)} bytes; at most {limits.max_attrs_bytes} allowed")
    # Only text with enough brackets can be too deep: most objects skip the walk.
    brackets = text.count(b"{") + text.count(b"[")
    if brackets > limits.max_attrs_depth and _depth(value) > limits.max_attrs_depth:
        raise EventError(f"{name} nests deeper than {limits.max_attrs_depth} levels")
    if b"\\u0000" in text:  # jsonb refuses NUL: make it storable, not fatal
        value = storable_value(value)
        text = orjson.dumps(value)
    return text, value


def _encode(value: Any, name: str) -> bytes:
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError as exc:  # e.g. an integer beyond 64 bits
        raise EventError(f"{name} cannot be stored: {exc}") from None


def _error_object(value: Any, limits: Limits) -> dict[str, Any]:
    """`error` is {type, message, stack}; a bare string is taken as the message."""
    if type(value) is str:
        value = {"message": value}
    if type(value) is not dict:
        raise EventError(f"error must be an object or a string, not {_type(value)}")
    stack = value.get("stack")
    if type(stack) is str:
        value = {**value, "stack": clip_text(stack, limits.max_message_bytes)}
    checked: dict[str, Any] = value
    return checked


def _counters(value: Any) -> Any:
    if type(value) is not dict:
        raise EventError(f"counters must be an object of numbers, not {_type(value)}")
    for key, number in value.items():
        if type(number) not in (int, float) or not math.isfinite(number):
            raise EventError(f"counters.{key[:50]} must be a number, not {_show(number)}")
    return value


def parse_log(obj: dict[str, Any], received_at: datetime, limits: Limits) -> LogRow:
    message = obj.get("message")
    if type(message) is not str:
        if message is None:
            raise EventError("message is required")
        raise EventError(f"message must be a string, not {_type(message)}")
    ts = obj.get("ts")
    level = obj.get("level")
    job = obj.get("job")
    if job is not None:
        job = _name(job, "job")
    run_id = obj.get("run_id")
    run_id = loose_key(job) if run_id is None else parse_uuid(run_id, "run_id")
    attrs = obj.get("attrs")
    source = obj.get("source")
    error = obj.get("error")
    levelno = 20 if level is None else parse_level(level)
    error_text = None
    fp = None
    if error is not None:
        error = _error_object(error, limits)
        error_text = dump_object(error, "error", limits)
    if levelno >= ERROR_LEVELNO:
        error_type = error.get("type") if error else None
        error_message = error.get("message") if error else None
        fp = fingerprint(
            error_type if type(error_type) is str else None,
            error_message if type(error_message) is str and error_message else message,
        )
    if ts is None:
        ts = received_at
    elif type(ts) is float and 0 <= ts <= MAX_EPOCH:  # what the Python client sends
        ts = datetime.fromtimestamp(ts, UTC)
    else:
        ts = parse_time(ts, "ts")
    if len(message) * 4 > limits.max_message_bytes or has_unstorable(message):
        message = clip_text(message, limits.max_message_bytes)
    seq = obj.get("seq")
    if seq is not None and (type(seq) is not int or not 0 <= seq <= MAX_SEQ):
        raise EventError(f"seq must be a whole number from 0 to {MAX_SEQ}, not {_show(seq)}")
    return (
        ts,
        received_at,
        levelno,
        job,
        run_id,
        _optional_name(obj, "step"),
        message,
        None if attrs is None else dump_object(attrs, "attrs", limits),
        None if source is None else dump_object(source, "source", limits),
        error_text,
        _optional_name(obj, "event_id"),
        fp,
        seq,
    )


def parse_run(obj: dict[str, Any], received_at: datetime, limits: Limits) -> RunEvent:
    if obj.get("run_id") is None:
        raise EventError("run_id is required for a run event")
    event = RunEvent(run_id=parse_uuid(obj["run_id"], "run_id"), ts=received_at)
    for key, value in obj.items():
        if value is None or key == "kind" or key == "run_id":
            continue
        if key in ("job", "step", "trigger"):
            setattr(event, key, _name(value, key))
        elif key == "status":
            event.status = parse_status(value)
        elif key in ("started_at", "finished_at", "ts"):
            setattr(event, key, parse_time(value, key))
        elif key == "progress":
            if type(value) not in (int, float) or not 0 <= value <= 100:
                raise EventError(f"progress must be a number from 0 to 100, not {_show(value)}")
            event.progress = float(value)
        elif key == "log_lines":
            if type(value) is not int or not 0 <= value <= MAX_LOG_LINES:
                raise EventError(
                    f"log_lines must be a whole number from 0 to {MAX_LOG_LINES}, "
                    f"not {_show(value)}"
                )
            event.log_lines = value
        elif key == "counters":
            event.counters = _counters(_dump(value, "counters", limits)[1])
        elif key == "attrs":
            event.attrs = _dump(value, "attrs", limits)[1]
        elif key == "result":
            event.result = dump_object(value, "result", limits)
        elif key == "error":
            event.error = dump_object(_error_object(value, limits), "error", limits)
        elif key not in _RUN_FIELDS:
            raise EventError(f"unknown field {key[:50]!r} for a run event")
    return event


def parse_event(obj: Any, received_at: datetime, limits: Limits) -> Event:
    """Validate one decoded JSON value as an event; raise EventError saying what is wrong."""
    if type(obj) is not dict:
        raise EventError(f"an event must be a JSON object, not {_type(obj)}")
    kind = obj.get("kind", "log")
    if kind == "log":
        return parse_log(obj, received_at, limits)
    if kind == "run":
        return parse_run(obj, received_at, limits)
    raise EventError(f"kind must be 'log' or 'run', not {_show(kind)}")


def _type(value: Any) -> str:
    return {
        dict: "an object", list: "an array", str: "a string", bool: "a boolean",
        int: "a number", float: "a number", type(None): "null",
    }.get(type(value), type(value).__name__)  # fmt: skip


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
