"""GET /v1/runs/{run_id}/compare?with=last_success|<run_id>: what changed since the last
good run. The figures come from `compare`, the plain-language list from `compare_text`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from ingestd.http.auth import requires
from ingestd.http.problems import Problem, bad_param
from ingestd.http.responses import json_response
from ingestd.ingest import sql as queries
from ingestd.ingest.vocab import LEVEL_NAMES
from ingestd.read import compare, compare_sql, compare_text
from ingestd.read.completeness import with_gaps
from ingestd.read.db import READ_DB, ReadDb
from ingestd.read.params import Params, uuid_value

routes = web.RouteTableDef()

LAST_SUCCESS = "last_success"
#: A run's lines are looked for from this long before its start to this long after its end
#: (or its last event), so only the day partitions of its own time are read. A line outside
#: (a skewed clock) is not lost: when fewer lines are found than the run's own per-level
#: counts say it has, its lines are read again from every partition.
SPAN_SLACK = timedelta(hours=1)


def _with_param(params: Params) -> str | None:
    """None for the job's last success, else the run id to compare with."""
    raw = params.query.get("with", LAST_SUCCESS)
    if raw == LAST_SUCCESS:
        return None
    try:
        return uuid_value("with", raw)
    except Problem:
        raise bad_param("with", f"must be {LAST_SUCCESS} or a run id, not {raw[:60]!r}") from None


async def usual_window(db: ReadDb, run: Any) -> tuple[list[Any], bool]:
    """The runs of the usual ranges, and whether they all started before the run: the job's
    newest successes before it; only when there is none (its first runs), its newest."""
    if run["job"] is None:
        return [], True
    rows = await db.fetch(
        compare_sql.COMPARE_USUAL_BEFORE,
        run["job"],
        run["started_at"],
        run["run_id"],
        compare.USUAL_RUNS,
    )
    if rows:
        return rows, True
    rows = await db.fetch(
        compare_sql.COMPARE_USUAL_ANY, run["job"], run["run_id"], compare.USUAL_RUNS
    )
    return rows, not rows


def _span(run: Any) -> tuple[datetime, datetime]:
    ends = [t for t in (run["finished_at"], run["last_event_at"]) if t is not None]
    end = max(ends) if ends else datetime.now(UTC)
    return run["started_at"] - SPAN_SLACK, max(end, run["started_at"]) + SPAN_SLACK


def _lines_query(runs: list[Any], spans: bool) -> tuple[str, list[Any]]:
    parts: list[str] = []
    args: list[Any] = []
    for run in runs:
        args.append(run["run_id"])
        part = compare_sql.COMPARE_RUN_LINES.format(run=f"${len(args)}")
        if spans:
            args += _span(run)
            part += compare_sql.COMPARE_SPAN.format(low=f"${len(args) - 1}", high=f"${len(args)}")
        parts.append(part)
    return compare_sql.COMPARE_LINES.format(lines="\n    UNION ALL".join(parts)), args


async def read_lines(db: ReadDb, runs: list[Any]) -> list[Any]:
    """The runs' step and error rows of COMPARE_LINES; every line of theirs counted."""
    query, args = _lines_query(runs, spans=True)
    rows = await db.fetch(query, *args)
    found = {row["run_id"]: row["n"] for row in rows if row["kind"] == "total"}
    counted = {run["run_id"]: sum(run[f"n_{name}"] for name in LEVEL_NAMES) for run in runs}
    if any(found.get(run_id, 0) < n for run_id, n in counted.items()):
        query, args = _lines_query(runs, spans=False)
        rows = await db.fetch(query, *args)
    return rows


@routes.get("/v1/runs/{run_id}/compare")
@requires("read")
async def compare_runs(request: web.Request) -> web.Response:
    params = Params.of(request, ("with",))
    run_id = uuid_value("run_id", request.match_info["run_id"])
    with_id = _with_param(params)
    answer = await comparison(request.app[READ_DB], run_id, with_id)
    if answer is None:
        raise Problem(404, "Not Found", f"no run {run_id}")
    return json_response(answer)


async def comparison(db: ReadDb, run_id: str, with_id: str | None) -> dict[str, Any] | None:
    """The comparison of a run with another (None: the job's last success); None without
    the run. Also what a failed run's alert says changed (monitoring/what_changed.py)."""
    run = await db.fetchrow(queries.GET_RUN, run_id)
    if run is None:
        return None
    if with_id is not None:
        other = await db.fetchrow(queries.GET_RUN, with_id)
        if other is None:
            raise Problem(404, "Not Found", f"no run {with_id} to compare with")
    elif run["job"] is not None:
        other = await db.fetchrow(
            compare_sql.COMPARE_LAST_SUCCESS, run["job"], run["started_at"], run_id
        )
    else:
        other = None
    other_id = None if other is None else other["run_id"]
    runs = [run] if other is None or other_id == run_id else [run, other]
    # Independent reads, on connections of their own at once (the gaps only when the run's
    # figures show some: mostly no query).
    lines, (window, before_run), completeness = await asyncio.gather(
        read_lines(db, runs), usual_window(db, run), with_gaps(db, run)
    )
    step_rows = [row for row in lines if row["kind"] == "step"]
    error_rows = [row for row in lines if row["kind"] == "error"]
    answer: dict[str, Any] = {
        "run": compare.run_brief(run),
        "with": None if other is None else compare.run_brief(other),
        "with_reason": LAST_SUCCESS if with_id is None else "requested",
        "usual_window": {
            "runs": len(window),
            "of_at_most": compare.USUAL_RUNS,
            "before_run": before_run,
        },
        "duration": compare.duration(run, other, window),
        "steps": compare.steps(run_id, other_id, step_rows),
        "errors": compare.errors(run_id, other_id, error_rows),
        "log_completeness": completeness,
        "log_counts": compare.log_counts(run, other, window),
        "counters": compare.counters(run, other, window),
        "attrs": compare.attrs(run, other, window),
    }
    answer["summary"] = compare_text.summary(answer)
    return answer
