"""Figures over a window of days: summary, per job, errors, per attribute, time series; and
the jobs list. Success rate is the percent of finished runs that succeeded, one decimal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
from aiohttp import web

from ingestd.http.auth import requires
from ingestd.http.problems import bad_param
from ingestd.http.responses import json_response
from ingestd.ingest.vocab import LEVEL_NAMES
from ingestd.monitoring import stuck, verdicts
from ingestd.monitoring.clock import CLOCK
from ingestd.monitoring.schedules import format_duration
from ingestd.read import sql
from ingestd.read.db import READ_DB
from ingestd.read.params import ATTR_PREFIX, MAX_ERROR_RUNS, MAX_RECENT_RUNS, MAX_TEXT, Params
from ingestd.read.sql import Where
from ingestd.read.stats_cache import cached
from ingestd.read.views import run_view

routes = web.RouteTableDef()

FINISHED = ("success", "warning", "failed", "cancelled", "timed_out")
BUCKETS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
ERROR_BY = ("step", "job", "fingerprint", "job,step", "attr.<key>")
#: Groups by job and step together: an item's key is the step, its job the job.
PAIR = "job,step"


def window_start(days: int, now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)) - timedelta(days=days)


def success_rate(succeeded: int, finished: int) -> float | None:
    """Percent of finished runs that succeeded, one decimal. `succeeded` counts `success`
    and `warning` runs: a warning is a success with warnings, as health (`ok`) reads it."""
    return round(100.0 * succeeded / finished, 1) if finished else None


def _ms(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)


def log_counts(row: asyncpg.Record) -> dict[str, int]:
    return {name: int(row[f"n_{name}"] or 0) for name in LEVEL_NAMES}


def run_figures(row: asyncpg.Record) -> dict[str, Any]:
    """Run figures (read/sql.py _RUN_COUNTS and percentiles), as the API names them."""
    by_status = {
        status: int(row[f"n_{status}_runs"])
        for status in ("pending", "running", "success", "warning", "failed", "cancelled",
                       "timed_out")
    }  # fmt: skip
    finished = sum(by_status[s] for s in FINISHED)
    p50, p95 = row["percentiles"] or (None, None)
    return {
        "total_runs": int(row["total_runs"]),
        "success_count": by_status["success"],
        "failure_count": by_status["failed"] + by_status["timed_out"],
        "warning_count": by_status["warning"],
        "running_count": by_status["running"] + by_status["pending"],
        "cancelled_count": by_status["cancelled"],
        "finished_count": finished,
        "missed_count": int(row["n_missed_runs"]),
        "success_rate": success_rate(by_status["success"] + by_status["warning"], finished),
        "avg_duration_ms": _ms(row["avg_duration_ms"]),
        "p50_duration_ms": _ms(p50),
        "p95_duration_ms": _ms(p95),
        "runs_by_status": by_status,
        "log_counts": log_counts(row),
    }


def _window(params: Params) -> tuple[int, Where]:
    days = params.days()
    where = Where()
    where.add(sql.STATS_WINDOW, window_start(days))
    job = params.text("job")
    if job is not None:
        where.add(sql.STATS_JOB, job)
    return days, where


@routes.get("/v1/stats/summary")
@requires("read")
@cached
async def summary(request: web.Request) -> web.Response:
    days, where = _window(Params.of(request, ("days", "job")))
    db = request.app[READ_DB]
    row = await db.fetchrow(sql.STATS_SUMMARY.format(where=where.sql), *where.args)
    assert row is not None  # an aggregate always gives one row
    missing = await db.fetchrow(sql.STATS_MISSING_LOGS.format(where=where.sql), *where.args)
    assert missing is not None
    recent = await db.fetch(sql.STATS_RECENT_RUNS.format(where=where.sql), *where.args)
    return json_response(
        {
            "days": days,
            **run_figures(row),
            "runs_missing_logs": missing[0],
            "recent_runs": [run_view(r) for r in recent],
        }
    )


@routes.get("/v1/stats/jobs")
@requires("read")
@cached
async def per_job(request: web.Request) -> web.Response:
    days, where = _window(Params.of(request, ("days", "job")))
    rows = await request.app[READ_DB].fetch(sql.STATS_JOBS.format(where=where.sql), *where.args)
    items = [{"job": row["job"], **run_figures(row)} for row in rows]
    return json_response({"days": days, "items": items, "next_cursor": None})


def _error_key(params: Params, where: Where) -> tuple[str, str]:
    """(by, SQL of the key) for `by`; attr.<key> puts the key in as a parameter."""
    by = params.query.get("by", "step")
    if by == PAIR:
        return by, sql.ERROR_KEYS["step"]
    if by in sql.ERROR_KEYS:
        return by, sql.ERROR_KEYS[by]
    if by.startswith(ATTR_PREFIX) and 0 < len(by) - len(ATTR_PREFIX) <= MAX_TEXT:
        if "\x00" in by:  # PostgreSQL cannot compare text with U+0000
            raise bad_param("by", "must not contain NUL characters")
        return by, sql.ERROR_ATTR_KEY.format(param=where.param(by[len(ATTR_PREFIX) :]))
    raise bad_param("by", f"must be one of {', '.join(ERROR_BY)}, not {by[:60]!r}")


def _sample(row: asyncpg.Record) -> dict[str, Any] | None:
    if row["sample_id"] is None:
        return None
    error = row["sample_error"]
    return {
        "id": row["sample_id"],
        "ts": row["last_seen"],
        "run_id": row["sample_run_id"],
        "job": row["sample_job"],
        "step": row["sample_step"],
        "message": row["sample_message"],
        "error": None if error is None else orjson.Fragment(error),
    }


def _error_group(row: asyncpg.Record, by: str) -> dict[str, Any]:
    item: dict[str, Any] = {"key": row["key"]}
    if by == PAIR:
        item["job"] = row["pair_job"]
    item.update(
        error_count=row["error_count"],
        affected_runs=row["affected_runs"],
        failed_runs=row["failed_runs"],
        first_seen=row["first_seen"],
        last_seen=row["last_seen"],
        sample=_sample(row),
    )
    return item


@routes.get("/v1/stats/errors")
@requires("read")
@cached
async def errors(request: web.Request) -> web.Response:
    params = Params.of(request, ("days", "by", "job", "limit"))
    days = params.days()
    limit = params.limit()
    where = Where()
    where.add(sql.ERRORS_WINDOW, window_start(days))
    by, key = _error_key(params, where)
    job = params.text("job")
    if job is not None:
        where.add(sql.STATS_JOB, job)
    query = sql.stats_errors(
        key, where.sql, where.param(limit), by_attr=by.startswith(ATTR_PREFIX), pair=by == PAIR
    )
    rows = await request.app[READ_DB].fetch(query, *where.args)
    items = [_error_group(row, by) for row in rows]
    return json_response({"days": days, "by": by, "items": items, "next_cursor": None})


@routes.get("/v1/stats/errors/runs")
@requires("read")
@cached
async def error_runs(request: web.Request) -> web.Response:
    """The runs that hold a group's error lines, each once, newest error first."""
    params = Params.of(request, ("days", "by", "key", "job", "limit"))
    days = params.days()
    limit = params.integer("limit", 10, 1, MAX_ERROR_RUNS)
    where = Where()
    where.add(sql.ERRORS_WINDOW, window_start(days))
    by, key = _error_key(params, where)
    value = params.text("key")
    # Without key=, the group whose key is null: (no step), lines without a fingerprint ...
    if value is None:
        where.add(sql.ERRORS_NO_KEY.format(key=key))
    else:
        where.add(sql.ERRORS_KEY.format(key=key), value)
    job = params.text("job")
    if job is None and by == PAIR:
        raise bad_param("job", "is required with by=job,step: the job of the pair")
    if job is not None:
        where.add(sql.STATS_JOB, job)
    query = sql.stats_error_runs(
        key, where.sql, where.param(limit), by_attr=by.startswith(ATTR_PREFIX)
    )
    rows = await request.app[READ_DB].fetch(query, *where.args)
    items = [dict(row) for row in rows]
    return json_response(
        {"days": days, "by": by, "key": value, "job": job, "items": items, "next_cursor": None}
    )


@routes.get("/v1/stats/by")
@requires("read")
@cached
async def by_attr(request: web.Request) -> web.Response:
    params = Params.of(request, ("attr", "days", "job", "limit"))
    key = params.text("attr")
    if key is None:
        raise bad_param("attr", "is required: the run attribute to group by, e.g. attr=profile_id")
    days = params.days()
    limit = params.limit()
    where = Where()
    where.add(sql.STATS_WINDOW, window_start(days))
    key_param = where.param(key)
    job = params.text("job")
    if job is not None:
        where.add(sql.STATS_JOB, job)
    query = sql.STATS_BY_ATTR.format(key=key_param, where=where.sql, limit=where.param(limit))
    rows = await request.app[READ_DB].fetch(query, *where.args)
    items = [
        {
            "key": row["key"],
            "total": row["total"],
            "success": row["success"],
            "failed": row["failed"],
            "warning": row["warning"],
            "success_rate": success_rate(row["success"] + row["warning"], row["finished"]),
            "avg_duration_ms": _ms(row["avg_duration_ms"]),
        }
        for row in rows
    ]
    return json_response({"days": days, "attr": key, "items": items, "next_cursor": None})


@routes.get("/v1/stats/timeseries")
@requires("read")
@cached
async def timeseries(request: web.Request) -> web.Response:
    params = Params.of(request, ("days", "bucket", "job"))
    bucket = params.choice("bucket", tuple(BUCKETS), "hour")
    days = params.days()
    where = Where()
    interval = where.param(BUCKETS[bucket])
    where.add(sql.STATS_WINDOW, window_start(days))
    job = params.text("job")
    if job is not None:
        where.add(sql.STATS_JOB, job)
    query = sql.TIMESERIES.format(interval=interval, where=where.sql)
    items = []
    for row in await request.app[READ_DB].fetch(query, *where.args):
        figures = run_figures(row)
        items.append(
            {
                "bucket": row["bucket"],
                "runs_by_status": {k: n for k, n in figures["runs_by_status"].items() if n},
                "logs_by_level": figures["log_counts"],
                "total_runs": figures["total_runs"],
                "success_rate": figures["success_rate"],
                "avg_duration_ms": figures["avg_duration_ms"],
                "p50_duration_ms": figures["p50_duration_ms"],
                "p95_duration_ms": figures["p95_duration_ms"],
            }
        )
    return json_response({"days": days, "bucket": bucket, "items": items, "next_cursor": None})


@routes.get("/v1/jobs")
@requires("read")
@cached
async def list_jobs(request: web.Request) -> web.Response:
    params = Params.of(request, ("days", "recent"))
    days = params.days()
    recent = params.integer("recent", 0, 0, MAX_RECENT_RUNS)
    db = request.app[READ_DB]
    # The monitor's clock, which judges late and stuck too (tests freeze and move it).
    clock = request.app.get(CLOCK)
    now = datetime.now(UTC) if clock is None else clock.now()
    rows = await db.fetch(sql.LIST_JOBS, window_start(days, now))
    stuck_runs = await stuck.stuck_runs(db, now)
    items = [_job_item(row, stuck_runs.get(row["job_name"]), now) for row in rows]
    if recent:
        # One query for every job's sparkline, instead of one request per job.
        runs: dict[str, list[dict[str, Any]]] = {item["job"]: [] for item in items}
        for row in await db.fetch(sql.RECENT_RUNS_PER_JOB, list(runs), recent):
            runs[row["job"]].append(
                {k: row[k] for k in ("run_id", "status", "started_at", "duration_ms", "missed")}
            )
        for item in items:
            item["recent_runs"] = runs[item["job"]]
    return json_response({"days": days, "items": items, "next_cursor": None})


def _schedule(row: asyncpg.Record) -> dict[str, Any] | None:
    if row["schedule_every"] is not None:
        return {"every": format_duration(row["schedule_every"])}
    if row["schedule_cron"] is not None:
        return {"cron": row["schedule_cron"], "timezone": row["schedule_timezone"] or "UTC"}
    return None


def _job_item(
    row: asyncpg.Record, stuck_run: tuple[str, stuck.Stuck] | None, now: datetime
) -> dict[str, Any]:
    schedule = _schedule(row)
    standing = verdicts.job_standing(
        row["monitored_health"],
        row["last_ended_status"],
        scheduled=schedule is not None,
        has_run=row["run_id"] is not None,
        stuck_run=stuck_run,
    )
    health = standing["health"]
    due_at = row["monitored_due_at"]
    late = health in ("late", "missed") and due_at is not None and now > due_at
    return {
        "job": row["job_name"],
        "last_run": None if row["run_id"] is None else run_view(row),
        "runs_total": int(row["runs_total"] or 0),
        "success_rate": success_rate(row["succeeded_count"] or 0, row["finished_count"] or 0),
        "avg_duration_ms": _ms(row["avg_duration_ms"]),
        "health": health,
        "missed_count": int(row["missed_count"] or 0),
        "schedule": schedule,
        "due_at": due_at,
        "late_by_ms": int((now - due_at) / timedelta(milliseconds=1)) if late else None,
        "stuck": standing["stuck"],
    }
