"""The shapes of the read API's answers (runs, logs, jobs, stats), as msgspec Structs.

/v1/openapi.json's `components.schemas` is generated from these. The handlers still build
plain dicts (views.py, stats_api.py: jsonb goes out as text, unparsed); tests check their
answers against the schemas generated here, field for field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from ingestd.ingest.models import Stamp, Uuid

Status = Literal["pending", "running", "success", "warning", "failed", "cancelled", "timed_out"]
Level = Literal["trace", "debug", "info", "success", "warning", "error", "critical"]
Health = Literal["ok", "failing", "late", "missed", "stuck", "waiting", "unknown"]
Ms = Annotated[float, Meta(description="milliseconds")] | None
Rate = Annotated[float, Meta(description="Percent of finished runs that succeeded, one decimal.")]
JsonObject = dict[str, Any]
LevelCounts = Annotated[dict[str, int], Meta(description="Number of logs per level name.")]
NextCursor = Annotated[
    str | None, Meta(description="Pass as `cursor=` for the next page; null on the last one.")
]


class LogCompleteness(msgspec.Struct):
    """Whether every log line the run's sender numbered (`seq`) arrived. `unknown`: no
    line was numbered; `receiving`: none missing so far, the run is not finished; `complete`:
    none missing, the run is finished; `missing`: some lines between 0 and the last one
    expected are not stored (a running run's gap may still be filled by a replay). Lines lost
    at the end are seen when the run's finish said how many it sent (`log_lines`)."""

    state: Literal["complete", "receiving", "missing", "unknown"]
    received: Annotated[int, Meta(description="Numbered lines stored, each seq once.")]
    expected: Annotated[
        int | None,
        Meta(
            description="The highest seq received plus one, or the finish's log_lines "
            "when that is more."
        ),
    ]
    missing: Annotated[int | None, Meta(description="expected - received; null if unknown.")]
    gaps: Annotated[
        list[Annotated[list[int], Meta(min_length=2, max_length=2)]] | None,
        Meta(
            description="Missing seq ranges [first, last], the first 10, in GET "
            "/v1/runs/{run_id} only: null elsewhere when lines are missing."
        ),
    ]


#: The states of log_completeness, for the OpenAPI document: as docs/recipes.md shows them.
COMPLETENESS_EXAMPLES: list[dict[str, Any]] = [
    {"state": "complete", "received": 20, "expected": 20, "missing": 0, "gaps": []},
    {
        "state": "missing",
        "received": 18,
        "expected": 20,
        "missing": 2,
        "gaps": [[12, 13]],
    },
    {"state": "missing", "received": 3, "expected": 6, "missing": 3, "gaps": None},
    {
        "state": "unknown",
        "received": 0,
        "expected": None,
        "missing": None,
        "gaps": None,
    },
]


class Run(msgspec.Struct):
    run_id: Uuid
    job: Annotated[str | None, Meta(description="null until an event names it.")]
    status: Status
    trigger: str | None
    started_at: Stamp | None
    finished_at: Stamp | None
    duration_ms: Ms
    progress: float | None
    step: str | None
    counters: dict[str, float] | None
    result: JsonObject | None
    error: JsonObject | None
    attrs: JsonObject | None
    log_counts: LevelCounts
    last_event_at: Stamp | None
    log_completeness: Annotated[LogCompleteness, Meta(examples=COMPLETENESS_EXAMPLES)]


class Log(msgspec.Struct):
    id: int
    ts: Stamp
    received_at: Stamp
    level: Level
    levelno: int
    job: str | None
    run_id: Annotated[Uuid | None, Meta(description="null for a log outside any run")]
    step: str | None
    message: str
    attrs: JsonObject | None
    source: JsonObject | None
    error: JsonObject | None
    fingerprint: Annotated[
        str | None,
        Meta(description="Groups error messages that differ only in numbers, ids, paths."),
    ]
    seq: Annotated[
        int | None,
        Meta(description="The line's number in its run, as sent (see LogEvent); null if none."),
    ]


class RunList(msgspec.Struct):
    items: list[Run]
    next_cursor: NextCursor


class LogList(msgspec.Struct):
    items: list[Log]
    next_cursor: NextCursor


class RecentRun(msgspec.Struct):
    run_id: Uuid
    status: Status
    started_at: Stamp | None
    duration_ms: int | None
    missed: Annotated[bool, Meta(description="A missed slot recorded by the monitor.")]


class JobSchedule(msgspec.Struct, omit_defaults=True):
    every: Annotated[str, Meta(description="A period after the latest start: `15m`.")] = ""
    cron: str = ""
    timezone: str = ""


class StuckRun(msgspec.Struct):
    run_id: Uuid
    reason: Annotated[
        Literal["duration", "silence"],
        Meta(description="Ran far longer than usual, or sent no event for long."),
    ]
    limit_ms: int
    elapsed_ms: int
    text: str


class JobSummary(msgspec.Struct, omit_defaults=True):
    """One row of GET /v1/jobs."""

    job: str
    last_run: Run | None
    runs_total: Annotated[int, Meta(description="Runs in the window, missed slots included.")]
    missed_count: Annotated[int, Meta(description="Missed slots in the window.")]
    success_rate: Annotated[
        Rate | None, Meta(description="Over the window's finished runs, missed slots left out.")
    ]
    avg_duration_ms: Annotated[Ms, Meta(description="Missed slots left out.")]
    health: Health
    schedule: JobSchedule | None
    due_at: Annotated[Stamp | None, Meta(description="The next start the schedule expects.")]
    late_by_ms: Annotated[
        int | None, Meta(description="How long past due_at, when `late` or `missed`.")
    ]
    stuck: Annotated[StuckRun | None, Meta(description="The stuck run, when `stuck`.")]
    recent_runs: Annotated[
        list[RecentRun],
        Meta(description="With ?recent=N only: the job's N newest runs, newest first."),
    ] = []


class JobList(msgspec.Struct):
    days: int
    items: list[JobSummary]
    next_cursor: NextCursor


class RunFigures(msgspec.Struct, kw_only=True):
    total_runs: int
    success_count: int
    failure_count: Annotated[int, Meta(description="failed and timed_out")]
    warning_count: int
    running_count: Annotated[int, Meta(description="running and pending")]
    cancelled_count: int
    finished_count: Annotated[int, Meta(description="Missed slots left out.")]
    missed_count: Annotated[int, Meta(description="Missed slots (in total_runs only).")]
    success_rate: Rate | None
    avg_duration_ms: Ms
    p50_duration_ms: Ms
    p95_duration_ms: Ms
    runs_by_status: dict[str, int]
    log_counts: LevelCounts


class StatsSummary(RunFigures, kw_only=True):
    days: int
    runs_missing_logs: Annotated[
        int,
        Meta(description="Runs whose numbered log lines (seq) are not all stored: see Run."),
    ]
    recent_runs: Annotated[list[Run], Meta(max_length=10, description="The 10 newest.")]


class JobFigures(RunFigures, kw_only=True):
    job: str | None


class JobFiguresList(msgspec.Struct):
    days: int
    items: list[JobFigures]
    next_cursor: NextCursor


class ErrorSample(msgspec.Struct):
    """The latest log of the group."""

    id: int
    ts: Stamp
    run_id: Uuid | None
    job: str | None
    step: str | None
    message: str
    error: JsonObject | None


class ErrorGroup(msgspec.Struct, omit_defaults=True):
    key: Annotated[str | None, Meta(description="With by=job,step: the step.")]
    error_count: int
    affected_runs: int
    failed_runs: Annotated[int, Meta(description="Affected runs that failed or timed out.")]
    first_seen: Stamp
    last_seen: Stamp
    sample: ErrorSample | None
    job: Annotated[str | None, Meta(description="With by=job,step only: the job.")] | UnsetType = (
        UNSET
    )


class ErrorGroupList(msgspec.Struct):
    days: int
    by: Annotated[
        str, Meta(examples=["step", "job", "fingerprint", "job,step", "attr.terminal_id"])
    ]
    items: list[ErrorGroup]
    next_cursor: NextCursor


class ErrorRun(msgspec.Struct):
    """A run that holds error lines of the group, listed once."""

    run_id: Uuid
    job: str | None
    status: Status
    started_at: Stamp
    error_count: Annotated[int, Meta(description="The group's error lines in this run.")]
    last_seen: Annotated[Stamp, Meta(description="Its newest such line.")]


class ErrorRunList(msgspec.Struct):
    days: int
    by: str
    key: Annotated[str | None, Meta(description="null: the group without a key.")]
    job: str | None
    items: Annotated[list[ErrorRun], Meta(description="Newest error first.")]
    next_cursor: NextCursor


class AttrGroup(msgspec.Struct):
    key: Annotated[Any, Meta(description="The attribute's value.")]
    total: int
    success: int
    failed: int
    warning: int
    success_rate: Rate | None
    avg_duration_ms: Ms


class AttrGroupList(msgspec.Struct):
    days: int
    attr: str
    items: list[AttrGroup]
    next_cursor: NextCursor


class Bucket(msgspec.Struct):
    bucket: Stamp
    runs_by_status: Annotated[dict[str, int], Meta(description="Statuses with no run left out.")]
    logs_by_level: LevelCounts
    total_runs: int
    success_rate: Rate | None
    avg_duration_ms: Ms
    p50_duration_ms: Ms
    p95_duration_ms: Ms


class BucketList(msgspec.Struct):
    days: int
    bucket: Literal["hour", "day"]
    items: list[Bucket]
    next_cursor: NextCursor


class Deleted(msgspec.Struct, omit_defaults=True):
    deleted: int
    dropped_partitions: Annotated[int, Meta(description="DELETE /v1/logs only.")] | UnsetType = (
        UNSET
    )


MODELS: tuple[Any, ...] = (
    Run, Log, RunList, LogList, JobList, StatsSummary, JobFiguresList, ErrorGroupList,
    ErrorRunList, AttrGroupList, BucketList, Deleted,
)  # fmt: skip
