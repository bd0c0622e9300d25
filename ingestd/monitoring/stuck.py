"""When a running run is `stuck`: a flag that needs no settings.

A job's own `max_duration` and `heartbeat_timeout` end a run (`timed_out`); most jobs have
neither, and a hung run then stayed `running` and green forever. `stuck` is the default
watch, a flag that changes nothing: a run is stuck when it

- has run longer than `FACTOR` times the p95 duration of the job's last `HISTORY` successful
  runs (at least `MIN_HISTORY` of them), and never less than `FLOOR`; or
- has sent no event (log, heartbeat, progress) for longer than `SILENCE`, and longer than
  that duration limit when there is one: a job that usually runs quietly for 3 hours is not
  stuck after one silent hour.

The p95 of recent successes, not their mean: one slow success should not make the next
hang look usual, and the factor of three leaves room for the slow days a p95 already sees.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import asyncpg

from ingestd.monitoring.alerts import AlertSpec
from ingestd.monitoring.job_settings import JobSettings
from ingestd.monitoring.webhooks import Target
from ingestd.read.compare_text import duration_text

FACTOR = 3.0
FLOOR = timedelta(minutes=10)
SILENCE = timedelta(hours=1)
HISTORY = 20
MIN_HISTORY = 5

# Per running run, the p95 and number of the job's last HISTORY successful runs before it
# (a backward walk of runs_job_window_idx per run; running runs are few: runs_active_idx).
# {where} narrows the running runs; the lateral needs `r.job` and `r.started_at`.
USUAL_P95 = f"""
LEFT JOIN LATERAL (
    SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY h.duration_ms) AS usual_p95_ms,
           count(*) AS usual_n
    FROM (
        SELECT duration_ms FROM runs AS h
        WHERE h.job = r.job AND h.status = 'success' AND h.started_at < r.started_at
        ORDER BY h.started_at DESC, h.run_id DESC LIMIT {HISTORY}
    ) AS h
) AS usual ON true
"""

RUNNING_RUNS = f"""
SELECT r.run_id::text, r.job, r.started_at, r.last_event_at, usual.usual_p95_ms, usual.usual_n
FROM runs AS r
{USUAL_P95}
WHERE r.status IN ('pending', 'running') AND r.job IS NOT NULL
"""
# The same, for one job (GET /v1/jobs/{job}).
JOB_RUNNING_RUNS = RUNNING_RUNS + "AND r.job = $1\n"


class Fetcher(Protocol):
    """A connection, or the read side's ReadDb: whatever runs a query."""

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]: ...


@dataclass(frozen=True, slots=True)
class Stuck:
    #: `duration` (ran far longer than usual) or `silence` (no event for long).
    reason: str
    #: The limit it went past.
    limit: timedelta
    #: How long it has run, or been silent.
    elapsed: timedelta

    def text(self) -> str:
        # Worded as the dashboard words durations ("6 min 28 s"), not as settings are set.
        elapsed, limit = duration_text(_ms(self.elapsed)), duration_text(_ms(self.limit))
        if self.reason == "duration":
            return f"running for {elapsed}, longer than {limit} ({FACTOR:g} times its usual p95)"
        return f"silent for {elapsed} (no event for longer than {limit})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "limit_ms": int(self.limit / timedelta(milliseconds=1)),
            "elapsed_ms": int(self.elapsed / timedelta(milliseconds=1)),
        }


def _ms(span: timedelta) -> int:
    """Whole seconds, at least one: "running for 6 min 28 s", never "... 28.4 s"."""
    return max(1, int(span.total_seconds())) * 1000


def duration_limit(usual_p95_ms: float | None, usual_n: int | None) -> timedelta | None:
    """How long a run may take before it is stuck; None without enough history."""
    if usual_p95_ms is None or (usual_n or 0) < MIN_HISTORY:
        return None
    return max(FLOOR, timedelta(milliseconds=FACTOR * float(usual_p95_ms)))


def judge(
    now: datetime,
    started_at: datetime | None,
    last_event_at: datetime | None,
    usual_p95_ms: float | None,
    usual_n: int | None,
) -> Stuck | None:
    """Whether a running run is stuck at `now`, and why."""
    if started_at is None:
        return None
    limit = duration_limit(usual_p95_ms, usual_n)
    ran = now - started_at
    if limit is not None and ran > limit:
        return Stuck("duration", limit, ran)
    silent_limit = max(SILENCE, limit or SILENCE)
    silent = now - max(started_at, last_event_at or started_at)
    if silent > silent_limit:
        return Stuck("silence", silent_limit, silent)
    return None


async def stuck_runs(
    conn: Fetcher, now: datetime, job: str | None = None
) -> dict[str, tuple[str, Stuck]]:
    """Per job (or for `job` only), its stuck running run (the newest, if several) and why."""
    found: dict[str, tuple[str, Stuck, datetime]] = {}
    running = await (conn.fetch(RUNNING_RUNS) if job is None else conn.fetch(JOB_RUNNING_RUNS, job))
    for run in running:
        verdict = judge(
            now, run["started_at"], run["last_event_at"], run["usual_p95_ms"], run["usual_n"]
        )
        seen = found.get(run["job"])
        if verdict is not None and (seen is None or run["started_at"] > seen[2]):
            found[run["job"]] = (run["run_id"], verdict, run["started_at"])
    return {job: (run_id, verdict) for job, (run_id, verdict, _) in found.items()}


async def alerts(
    conn: Fetcher,
    now: datetime,
    settings: dict[str, JobSettings],
    targets: Callable[[JobSettings], tuple[Target, ...]],
    skip: Collection[str] = (),
) -> list[AlertSpec]:
    """The `stuck` alert of each stuck run, keyed by the run: raised once per run."""
    found = []
    for job, (run_id, verdict) in (await stuck_runs(conn, now)).items():
        s = settings.get(job) or JobSettings(job)
        if job in skip or "stuck" not in s.rules:
            continue
        found.append(
            AlertSpec(
                f"stuck:{run_id}",
                "stuck",
                job,
                run_id,
                f"[ingestd] {job}: run {run_id[:8]} looks stuck: {verdict.text()}",
                {"status": "running", "stuck": verdict.as_dict()},
                targets(s),
            )
        )
    return found
