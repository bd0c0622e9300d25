"""The alert rules on finished runs: failed, timed out, N failures in a row, recovered after
failure, and the anomaly rule (a successful run unlike the job's recent successful ones,
which is marked `warning`).

Each judgement looks only at the run and the runs that started before it, so judging a run
again, later or on another replica, comes to the same alerts (and their keys dedupe them).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import orjson

from ingestd.db.database import Conn
from ingestd.monitoring import anomaly, sql
from ingestd.monitoring.alerts import AlertSpec
from ingestd.monitoring.job_settings import JobSettings
from ingestd.monitoring.schedules import format_duration
from ingestd.monitoring.webhooks import Target
from ingestd.read.compare_text import duration_range, duration_text, number_range, number_text

FAILING = frozenset({"failed", "timed_out"})


def short(run_id: str | None) -> str:
    return (run_id or "")[:8]


def took(duration_ms: int | None) -> str:
    # Worded as the dashboard and the compare summary word it: "4 min 12 s", "850 ms".
    return "?" if duration_ms is None else duration_text(duration_ms)


def span_text(span: timedelta) -> str:
    """A timedelta in the words of duration_text: "5 min", "2 h"."""
    return duration_text(span / timedelta(milliseconds=1))


def targets_for(settings: JobSettings, global_targets: tuple[Target, ...]) -> tuple[Target, ...]:
    chosen = settings.webhooks + settings.apprise
    chosen += global_targets if settings.global_webhooks else ()
    return tuple(dict.fromkeys(chosen))


def _error_message(error: Any) -> str:
    message = error.get("message") if isinstance(error, dict) else None
    if isinstance(message, str):
        return ": " + message[:200]
    return ""


async def judge_run(
    conn: Conn,
    run: asyncpg.Record,
    settings: JobSettings,
    targets: tuple[Target, ...],
) -> tuple[list[AlertSpec], dict[str, Any] | None]:
    """Alerts for one finished run, and a run event marking it `warning` if anomalous."""
    attrs = orjson.loads(run["attrs"])
    error = orjson.loads(run["error"]) if run["error"] is not None else None
    job, run_id, status = run["job"], run["run_id"], run["status"]
    details = {
        "status": status,
        "started_at": run["started_at"].isoformat(),
        "finished_at": run["finished_at"].isoformat() if run["finished_at"] else None,
        "duration_ms": run["duration_ms"],
    }
    alerts: list[AlertSpec] = []

    def alert(rule: str, text: str, **extra: Any) -> None:
        if rule in settings.rules:
            alerts.append(
                AlertSpec(
                    f"{rule}:{run_id}",
                    rule,
                    job,
                    run_id,
                    f"[ingestd] {job}: {text}",
                    {**details, **extra},
                    targets,
                )
            )

    if status == "cancelled":
        return alerts, None
    n = settings.failures_in_a_row
    ended = await conn.fetch(sql.ENDED_UP_TO, job, run["started_at"], run_id, n + 1)
    if not ended or ended[0]["run_id"] != run_id:
        return alerts, None  # no longer what it was when read: judged when seen again
    before = ended[1] if len(ended) > 1 else None
    if attrs.get("missed") is True:
        # The monitor's record of a missed slot: one alert when a job starts missing, not
        # one per slot while it stays silent.
        if before is None or not before["missed"]:
            alert("missed", _missed_text(settings, run["started_at"], attrs),
                  due_at=run["started_at"].isoformat(), missed_runs=attrs.get("missed_runs", 1),
                  grace=format_duration(settings.grace))  # fmt: skip
        return alerts, None

    if status == "failed":
        alert("failed", f"run {short(run_id)} failed after {took(run['duration_ms'])}"
              f"{_error_message(error)}")  # fmt: skip
    elif status == "timed_out":
        alert("timed_out", f"run {short(run_id)} timed out after {took(run['duration_ms'])}"
              f"{_error_message(error)}")  # fmt: skip
    statuses = [r["status"] for r in ended]
    if status in FAILING:
        streak = next((i for i, s in enumerate(statuses) if s not in FAILING), len(statuses))
        if streak == n:
            alert("failures_in_a_row", f"failed {n} times in a row", failures=n)
    elif before is not None and before["status"] in FAILING:
        alert("recovered", f"run {short(run_id)} ended {status} after failures")

    marked = None
    if status == "success" and settings.anomaly.enabled:
        marked = await _judge_anomaly(conn, run, settings, alert)
    elif status == "warning" and isinstance(attrs.get("anomaly"), dict):
        # Marked by an earlier tick whose alert was not recorded (it failed): alert now.
        alert("anomaly", f"run {short(run_id)} is outside its usual band; marked warning",
              anomaly=attrs["anomaly"])  # fmt: skip
    return alerts, marked


def _missed_text(settings: JobSettings, slot: datetime, attrs: dict[str, Any]) -> str:
    count = attrs.get("missed_runs", 1)
    also = f" ({count} runs missed)" if isinstance(count, int) and count > 1 else ""
    return (
        f"missed its run due at {slot.isoformat()} "
        f"(no start within grace {span_text(settings.grace)}){also}"
    )


async def _judge_anomaly(
    conn: Conn, run: asyncpg.Record, settings: JobSettings, alert: Callable[..., None]
) -> dict[str, Any] | None:
    band = settings.anomaly
    rows = await conn.fetch(
        sql.SUCCESS_HISTORY, run["job"], run["started_at"], run["run_id"], band.history
    )
    history = [(r["duration_ms"], orjson.loads(r["counters"])) for r in rows]
    found = anomaly.outliers(
        run["duration_ms"],
        orjson.loads(run["counters"]),
        history,
        names=band.counters,
        k=band.k,
        min_history=band.min_history,
    )
    if not found:
        return None
    described = {o.measure: o.as_dict() for o in found}
    first = found[0]
    if first.measure == "duration_ms":
        what = (
            f"succeeded in {took(int(first.value))}, outside its usual "
            f"{duration_range(max(first.low, 0), first.high)}"
        )
    else:
        what = (
            f"succeeded with {first.measure} = {number_text(first.value)}, outside its usual "
            f"{number_range(first.low, first.high)}"
        )
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    alert(
        "anomaly",
        f"run {short(run['run_id'])} {what}{more} over {first.history} recent successful runs;"
        " marked warning",
        anomaly=described,
    )
    return {
        "kind": "run",
        "run_id": run["run_id"],
        "status": "warning",
        "attrs": {"anomaly": described},
    }
