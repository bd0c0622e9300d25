"""How a job stands: its health from its latest runs and its monitored state, and its
verdict against its schedule. Pure functions of what the monitor and /v1/jobs read, no I/O,
so both judge alike and tests can call them with any clock."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ingestd.monitoring.job_settings import JobSettings
from ingestd.monitoring.stuck import Stuck

_MISSED_NAMESPACE = uuid.UUID("3b0c9a4e-2f57-4d8e-a1f6-6d1e5c0b7a21")
HEALTHS = ("ok", "failing", "late", "missed", "stuck", "waiting", "unknown")


def ended_health(last_ended_status: str | None) -> str:
    if last_ended_status in ("success", "warning"):
        return "ok"
    if last_ended_status in ("failed", "timed_out"):
        return "failing"
    return "unknown"


def job_health(
    monitored: str | None,
    last_ended_status: str | None,
    *,
    stuck: bool = False,
    has_run: bool = False,
) -> str:
    """A job's health for /v1/jobs: `stuck` when its latest run is (stuck.py), `late` and
    `missed` from the monitor (jobs.health, for jobs with a schedule), `waiting` for a
    scheduled job with no run yet, else `ok`/`failing`/`unknown` from its latest ended run."""
    if stuck:
        return "stuck"
    if monitored in ("late", "missed") or (monitored == "waiting" and not has_run):
        return monitored
    return ended_health(last_ended_status)


def job_standing(
    monitored: str | None,
    last_ended_status: str | None,
    *,
    scheduled: bool,
    has_run: bool,
    stuck_run: tuple[str, Stuck] | None,
) -> dict[str, Any]:
    """A job's `health` and `stuck` (the stuck run and why, else None) as GET /v1/jobs and
    GET /v1/jobs/{job} both show them: one function, so the two never disagree."""
    # A scheduled job with no run is waiting even before the monitor's first tick says so.
    waiting = scheduled and not has_run
    health = job_health(
        "waiting" if waiting else monitored,
        last_ended_status,
        stuck=stuck_run is not None,
        has_run=has_run,
    )
    shown = None
    if stuck_run is not None:
        run_id, why = stuck_run
        shown = {"run_id": run_id, **why.as_dict(), "text": why.text()}
    return {"health": health, "stuck": shown}


@dataclass(frozen=True, slots=True)
class Verdict:
    health: str
    due_at: datetime | None = None
    #: The latest slot whose grace is over with no start, and how many slots that covers.
    missed_slot: datetime | None = None
    missed_count: int = 0


def judge_schedule(
    settings: JobSettings,
    *,
    last_started: datetime | None,
    last_is_missed: bool,
    schedule_set_at: datetime,
    last_ended_status: str | None,
    now: datetime,
) -> Verdict:
    """Where a job stands against its schedule. Watching starts with its first run: until
    then a scheduled job is `waiting` (due at its next cron slot; an `every` has none)."""
    base = ended_health(last_ended_status)
    schedule = settings.schedule
    if schedule is None:
        return Verdict(base)
    if last_started is None:
        due = schedule.next_after(max(schedule_set_at, now)) if schedule.cron else None
        return Verdict("waiting", due)
    anchor = max(last_started, schedule_set_at)
    due = schedule.next_after(anchor)
    if schedule.cron is not None:
        # A run that started a little before its slot (a fast clock) is that slot's run.
        following = schedule.next_after(due)
        if due - anchor <= min(settings.grace, (following - due) / 2):
            due = following
    if now > due + settings.grace:
        slot, count = schedule.slots_due(due, now - settings.grace)
        return Verdict("missed", due, slot, count)
    if last_is_missed:
        return Verdict("missed", due)
    if now > due:
        return Verdict("late", due)
    return Verdict(base, due)


def missed_run_id(job: str, slot: datetime) -> str:
    return str(uuid.uuid5(_MISSED_NAMESPACE, f"{job}\n{slot.isoformat()}"))
