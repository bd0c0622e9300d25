"""The shapes of ingest's request and response bodies, as msgspec Structs.

/v1/openapi.json's `components.schemas` is generated from these (`ingestd.openapi.schemas`),
and the runs REST handlers take their field lists from them and check every accepted body
against them, so the description cannot drift from the code. Events are described here
too, but `ingest/events.py` parses them by hand (the per-event hot path);
tests/test_openapi_bodies.py checks that it accepts exactly the fields described.

Optional request fields take `None` as "not given", as the parsers do.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeAlias, TypeVar

import msgspec
from msgspec import UNSET, Meta, UnsetType

from ingestd.ingest.events import MAX_EPOCH, MAX_LOG_LINES, MAX_SEQ
from ingestd.ingest.vocab import STATUS_ALIASES

T = TypeVar("T")
#: A request field that may be left out, or sent as null: both mean "not given".
Maybe: TypeAlias = T | UnsetType | None

Name = Annotated[str, Meta(min_length=1, max_length=200)]
Uuid = Annotated[
    str,
    Meta(
        description="A UUID in any spelling Python's uuid.UUID reads (hyphens optional, any case).",
        extra_json_schema={"format": "uuid"},
    ),
]
Stamp = Annotated[str, Meta(extra_json_schema={"format": "date-time"})]
Time = (
    Annotated[
        str,
        Meta(
            description="RFC 3339 (zone optional, UTC assumed)",
            extra_json_schema={"format": "date-time"},
        ),
    ]
    | Annotated[float, Meta(ge=0, le=MAX_EPOCH, description="epoch seconds, fractions allowed")]
)
LevelIn = (
    Annotated[
        str,
        Meta(
            description="A level name in any case (warn, err, fatal as aliases).",
            examples=["info", "warning", "error"],
        ),
    ]
    | Annotated[int, Meta(ge=0, le=100)]
)
StatusIn = Annotated[
    str,
    Meta(
        description="A run status or an alias, in any case: " + ", ".join(STATUS_ALIASES) + ".",
        examples=["running", "success", "failed"],
    ),
]
Progress = Annotated[float, Meta(ge=0, le=100, description="Percent done.")]
Counters = Annotated[
    dict[str, float], Meta(description="Numbers, merged into the run's key by key.")
]
JsonObject = dict[str, Any]
Step = Annotated[str, Meta(min_length=1, max_length=200, examples=["FETCH", "SAVE"])]
Trigger = Annotated[str, Meta(min_length=1, max_length=200, examples=["cron", "manual", "api"])]


class ErrorInfo(msgspec.Struct, omit_defaults=True):
    """An error: type, message, stack (other keys are kept too). A bare string is taken as
    the message."""

    type: str | UnsetType = UNSET
    message: str | UnsetType = UNSET
    stack: str | UnsetType = UNSET


ErrorIn = ErrorInfo | str


class Source(msgspec.Struct, omit_defaults=True):
    """Where a log line was written (other keys are kept too)."""

    logger: str | UnsetType = UNSET
    module: str | UnsetType = UNSET
    function: str | UnsetType = UNSET
    line: int | UnsetType = UNSET
    file: str | UnsetType = UNSET
    host: str | UnsetType = UNSET
    pid: int | UnsetType = UNSET


class LogEvent(msgspec.Struct, omit_defaults=True):
    """A log line. Fields not listed here are ignored."""

    message: str
    kind: Literal["log"] = "log"
    ts: Maybe[Time] = UNSET
    level: Maybe[LevelIn] = UNSET
    run_id: Maybe[Uuid] = UNSET
    job: Maybe[Name] = UNSET
    step: Maybe[Step] = UNSET
    attrs: Maybe[JsonObject] = UNSET
    source: Maybe[Source] = UNSET
    error: Maybe[ErrorIn] = UNSET
    event_id: Maybe[
        Annotated[str, Meta(min_length=1, max_length=200, description="Stored once.")]
    ] = UNSET
    seq: Maybe[
        Annotated[
            int,
            Meta(
                ge=0,
                le=MAX_SEQ,
                description="The line's number in its run, from 0, for the run's log "
                "completeness. Send an event_id with it: a repeat is then counted once.",
            ),
        ]
    ] = UNSET


LogLines = Annotated[
    int,
    Meta(
        ge=0,
        le=MAX_LOG_LINES,
        description="How many log lines the run numbered (seq 0 to log_lines - 1), sent with "
        "its finish: lines lost at the end of the run then read as missing.",
    ),
]


class RunEvent(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    """A change to a run; applied in the order received."""

    kind: Literal["run"]
    run_id: Uuid
    job: Maybe[Annotated[Name, Meta(description="Required the first time a run is seen.")]] = UNSET
    status: Maybe[StatusIn] = UNSET
    trigger: Maybe[Trigger] = UNSET
    started_at: Maybe[Time] = UNSET
    finished_at: Maybe[Time] = UNSET
    ts: Maybe[Time] = UNSET
    progress: Maybe[Progress] = UNSET
    step: Maybe[Step] = UNSET
    counters: Maybe[Counters] = UNSET
    result: Maybe[JsonObject] = UNSET
    error: Maybe[ErrorIn] = UNSET
    attrs: Maybe[Annotated[JsonObject, Meta(description="Merged key by key.")]] = UNSET
    log_lines: Maybe[LogLines] = UNSET


class Rejected(msgspec.Struct):
    index: int
    error: str


class IngestAnswer(msgspec.Struct):
    accepted: int
    rejected: list[Rejected]
    duplicate: bool


class RunCreate(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    """Start a run: status `running` and started_at now unless given."""

    job: Name
    run_id: Maybe[Uuid] = UNSET
    trigger: Maybe[Trigger] = UNSET
    attrs: Maybe[JsonObject] = UNSET
    started_at: Maybe[Time] = UNSET
    status: Maybe[StatusIn] = UNSET
    step: Maybe[Step] = UNSET
    progress: Maybe[Progress] = UNSET
    counters: Maybe[Counters] = UNSET


class RunUpdate(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    """Update a run; an empty body is a heartbeat."""

    progress: Maybe[Progress] = UNSET
    step: Maybe[Step] = UNSET
    counters: Maybe[Counters] = UNSET
    attrs: Maybe[JsonObject] = UNSET
    status: Maybe[StatusIn] = UNSET


class RunFinish(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    """Finish a run; finished_at now unless given."""

    status: StatusIn
    counters: Maybe[Counters] = UNSET
    result: Maybe[JsonObject] = UNSET
    error: Maybe[ErrorIn] = UNSET
    finished_at: Maybe[Time] = UNSET
    step: Maybe[Step] = UNSET
    progress: Maybe[Progress] = UNSET
    attrs: Maybe[JsonObject] = UNSET
    log_lines: Maybe[LogLines] = UNSET


def field_names(struct: type[msgspec.Struct]) -> frozenset[str]:
    return frozenset(struct.__struct_fields__)


#: Bodies and answers of ingest, for the OpenAPI document.
MODELS: tuple[Any, ...] = (LogEvent, RunEvent, IngestAnswer, RunCreate, RunUpdate, RunFinish)
