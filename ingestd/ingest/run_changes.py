"""Runs folded in Python: everything one batch does to each of its runs, from the run events
in the order received and from the log lines (counts per level, times, the job they name).
store.py applies the changes with two set-based statements (queries.APPLY_RUN_CHANGES has
the same rules on the table's side)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ingestd.ingest.events import (
    JOB,
    LEVELNO,
    RECEIVED_AT,
    RUN_ID,
    SEQ,
    TS,
    LogRow,
    RunEvent,
    in_run,
)
from ingestd.ingest.vocab import FINAL_STATUSES, LEVEL_NAMES, level_bucket, merge_status

_BUCKETS = [level_bucket(n) for n in range(101)]


# What a run event replaces when it gives it (counters and attrs merge instead).
_REPLACED_FIELDS: tuple[str, ...] = (
    "job",
    "trigger",
    "started_at",
    "finished_at",
    "progress",
    "step",
    "result",
    "error",
)
_TAKEN_FROM_A_MOOT_VERDICT = tuple(f for f in _REPLACED_FIELDS if f not in ("finished_at", "error"))


@dataclass(slots=True)
class RunChange:
    """Everything one batch does to one run, folded from its events in order."""

    first_ts: datetime
    last_ts: datetime
    job: str | None = None
    job_hint: str | None = None  # the job named by a log: used only if the run has none
    status: str | None = None
    status_ts: datetime | None = None
    trigger: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    progress: float | None = None
    step: str | None = None
    counters: dict[str, Any] = field(default_factory=dict)
    result: str | None = None
    error: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    log_counts: list[int] = field(default_factory=lambda: [0] * len(LEVEL_NAMES))
    #: Of the batch's lines numbered by their sender (seq): the highest, and how many. A
    #: finish's log_lines raises seq_max to the last line the run sent, so lines lost at
    #: the end read as missing; -1 for a run that sent none.
    seq_max: int | None = None
    seq_count: int = 0

    def apply(self, event: RunEvent) -> None:
        ts = event.started_at or event.ts
        self.first_ts = min(self.first_ts, ts)
        self.last_ts = max(self.last_ts, event.ts)
        names = _REPLACED_FIELDS
        if event.status is not None:
            if event.status == "timed_out" and self.status in FINAL_STATUSES:
                names = _TAKEN_FROM_A_MOOT_VERDICT  # the run had ended: its end stands
            elif self.status == "timed_out" and event.status in FINAL_STATUSES:
                self.error = self.finished_at = None  # the run's own end replaces the verdict
            status = merge_status(self.status, event.status)
            if status != self.status and status in FINAL_STATUSES:
                self.status_ts = event.finished_at or event.ts
            self.status = status
        for name in names:
            value = getattr(event, name)
            if value is not None:
                setattr(self, name, value)
        self.counters.update(event.counters)
        self.attrs.update(event.attrs)
        if event.log_lines is not None:
            last = event.log_lines - 1
            if self.seq_max is None or last > self.seq_max:
                self.seq_max = last


def fold_runs(run_events: list[RunEvent], logs: list[LogRow]) -> dict[str, RunChange]:
    changes: dict[str, RunChange] = {}
    for event in run_events:
        change = changes.get(event.run_id)
        if change is None:
            change = changes[event.run_id] = RunChange(event.started_at or event.ts, event.ts)
        change.apply(event)
    for row in logs:
        run_id = row[RUN_ID]
        change = changes.get(run_id)
        if change is None:
            if not in_run(row):
                continue
            change = changes[run_id] = RunChange(row[TS], row[RECEIVED_AT])
        else:
            change.first_ts = min(change.first_ts, row[TS])
            change.last_ts = max(change.last_ts, row[RECEIVED_AT])
        if change.job_hint is None:
            change.job_hint = row[JOB]
        change.log_counts[_BUCKETS[row[LEVELNO]]] += 1
        seq = row[SEQ]
        if seq is not None:
            change.seq_count += 1
            if change.seq_max is None or seq > change.seq_max:
                change.seq_max = seq
    return changes
