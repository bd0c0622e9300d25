"""GET /v1/runs/{run_id}/compare?with=last_success|<run_id>: what changed since the last
good run. The figures come from `compare`, the plain-language list from `compare_text`."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from ingestd.http.auth import requires
from ingestd.http.problems import Problem, bad_param
from ingestd.http.responses import json_response
from ingestd.ingest import sql as queries
from ingestd.read import compare, compare_text, sql
from ingestd.read.db import READ_DB
from ingestd.read.params import Params, uuid_value

routes = web.RouteTableDef()

LAST_SUCCESS = "last_success"


def _with_param(params: Params) -> str | None:
    """None for the job's last success, else the run id to compare with."""
    raw = params.query.get("with", LAST_SUCCESS)
    if raw == LAST_SUCCESS:
        return None
    try:
        return uuid_value("with", raw)
    except Problem:
        raise bad_param("with", f"must be {LAST_SUCCESS} or a run id, not {raw[:60]!r}") from None


async def _nothing() -> list[Any]:
    return []


@routes.get("/v1/runs/{run_id}/compare")
@requires("read")
async def compare_runs(request: web.Request) -> web.Response:
    params = Params.of(request, ("with",))
    run_id = uuid_value("run_id", request.match_info["run_id"])
    with_id = _with_param(params)
    db = request.app[READ_DB]
    run = await db.fetchrow(queries.GET_RUN, run_id)
    if run is None:
        raise Problem(404, "Not Found", f"no run {run_id}")
    if with_id is not None:
        other = await db.fetchrow(queries.GET_RUN, with_id)
        if other is None:
            raise Problem(404, "Not Found", f"no run {with_id} to compare with")
    elif run["job"] is not None:
        other = await db.fetchrow(sql.COMPARE_LAST_SUCCESS, run["job"], run["started_at"], run_id)
    else:
        other = None
    other_id = None if other is None else other["run_id"]
    ids = [run_id] if other_id is None or other_id == run_id else [run_id, other_id]
    # Two independent reads, on two connections at once.
    lines, window = await asyncio.gather(
        db.fetch(sql.COMPARE_LINES, ids),
        db.fetch(sql.COMPARE_USUAL, run["job"], run_id, compare.USUAL_RUNS)
        if run["job"] is not None
        else _nothing(),
    )
    step_rows = [row for row in lines if row["kind"] == "step"]
    error_rows = [row for row in lines if row["kind"] == "error"]
    answer: dict[str, Any] = {
        "run": compare.run_brief(run),
        "with": None if other is None else compare.run_brief(other),
        "with_reason": LAST_SUCCESS if with_id is None else "requested",
        "usual_window": {"runs": len(window), "of_at_most": compare.USUAL_RUNS},
        "duration": compare.duration(run, other, window),
        "steps": compare.steps(run_id, other_id, step_rows),
        "errors": compare.errors(run_id, other_id, error_rows),
        "log_counts": compare.log_counts(run, other, window),
        "counters": compare.counters(run, other, window),
        "attrs": compare.attrs(run, other, window),
    }
    answer["summary"] = compare_text.summary(answer)
    return json_response(answer)
