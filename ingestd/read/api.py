"""Read over HTTP: runs, one run, a run's logs, logs. Lists are keyset-paginated."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiohttp import web

from ingestd.db.database import POOL
from ingestd.http.auth import requires
from ingestd.http.problems import Problem
from ingestd.http.responses import json_response
from ingestd.ingest import sql as queries
from ingestd.read import sql
from ingestd.read.completeness import with_gaps
from ingestd.read.db import READ_DB, ReadDb
from ingestd.read.params import (
    Params,
    cursor_int,
    cursor_time,
    cursor_uuid,
    encode_cursor,
    uuid_value,
)
from ingestd.read.sql import Where
from ingestd.read.stats_cache import STATS_CACHE, StatsCache
from ingestd.read.views import log_view, run_view
from ingestd.settings import SETTINGS

routes = web.RouteTableDef()

RUNS_PARAMS = ("job", "status", "trigger", "since", "until", "limit", "cursor")
LOGS_PARAMS = (
    "job", "run_id", "level", "min_level", "step", "since", "until", "q", "fingerprint",
    "limit", "cursor",
)  # fmt: skip
RUN_LOGS_PARAMS = ("level", "min_level", "step", "since", "until", "q", "limit", "cursor")
ERROR_LEVELNO = 40
SLICE_FIRST = timedelta(minutes=5)
#: While a read has found nothing, each slice spans this many times the time read so far.
#: Wider is fewer queries for a rare term (24 hours: 9 queries at 2, 5 at 4, 4 at 8), but a
#: slice that reaches past a quiet spell into busy lines sorts more of them: newest-first
#: with the benchmark's newest line 100 minutes old, p95 34 ms at 2, 33 at 4, 111 at 8.
SLICE_GROWTH_EMPTY = 4
#: Past this width, the last slice reaches back to `since` or the beginning.
SLICE_LAST = timedelta(days=400)


async def read_ctx(app: web.Application) -> AsyncIterator[None]:
    """Reads share the pool but leave the writer's connections free; stats answers are kept
    a few seconds."""
    settings = app[SETTINGS]
    app[READ_DB] = ReadDb(app[POOL], settings.db_pool_size - settings.writer_connections)
    app[STATS_CACHE] = StatsCache()
    yield


def page(
    rows: list[asyncpg.Record],
    limit: int,
    view: Callable[[asyncpg.Record], dict[str, Any]],
    kind: str,
    key: Callable[[asyncpg.Record], list[Any]],
) -> dict[str, Any]:
    """`limit + 1` rows were asked for: one more than shown means there is a next page."""
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "items": [view(row) for row in rows],
        "next_cursor": encode_cursor(kind, key(rows[-1])) if more else None,
    }


def _run_key(row: asyncpg.Record) -> list[Any]:
    return [row["started_at"].isoformat(), row["run_id"]]


def _log_key(row: asyncpg.Record) -> list[Any]:
    return [row["ts"].isoformat(), row["id"]]


def add_attr_filters(where: Where, params: Params, one: str, either: str) -> None:
    for attr in params.attr_filters():
        documents = attr.documents()
        where.add(one if len(documents) == 1 else either, *documents)


def path_run_id(request: web.Request) -> str:
    return uuid_value("run_id", request.match_info["run_id"])


@routes.get("/v1/runs")
@requires("read")
async def list_runs(request: web.Request) -> web.Response:
    params = Params.of(request, RUNS_PARAMS, attrs=True)
    where = Where()
    job = params.text("job")
    if job is not None:
        where.add(sql.RUN_JOB, job)
    statuses = params.statuses()
    if statuses is not None:
        where.add(sql.RUN_STATUS, statuses)
    triggers = params.texts("trigger")
    if triggers is not None:
        where.add(sql.RUN_TRIGGER, triggers)
    since, until = params.time_range(datetime.now(UTC))
    if since is not None:
        where.add(sql.RUN_SINCE, since)
    if until is not None:
        where.add(sql.RUN_UNTIL, until)
    add_attr_filters(where, params, sql.RUN_ATTR, sql.RUN_ATTR_EITHER)
    cursor = params.cursor("runs", 2)
    if cursor is not None:
        where.add(sql.RUN_BEFORE, cursor_time(cursor[0]), cursor_uuid(cursor[1]))
    limit = params.limit()
    query = sql.LIST_RUNS.format(where=where.sql) + f" LIMIT {where.param(limit + 1)}"
    rows = await request.app[READ_DB].fetch(query, *where.args)
    return json_response(page(rows, limit, run_view, "runs", _run_key))


@routes.get("/v1/runs/{run_id}")
@requires("read")
async def get_run(request: web.Request) -> web.Response:
    Params.of(request, ())
    run_id = path_run_id(request)
    db = request.app[READ_DB]
    row = await db.fetchrow(queries.GET_RUN, run_id)
    if row is None:
        raise Problem(404, "Not Found", f"no run {run_id}")
    return json_response({**run_view(row), "log_completeness": await with_gaps(db, row)})


def log_filters(
    params: Params, where: Where, search: str
) -> tuple[datetime | None, datetime | None]:
    """The filters /v1/logs and a run's logs share; since/until are returned, not added."""
    levels = params.levels()
    if levels is not None:
        where.add(sql.LOG_LEVELS, levels)
    min_level = params.min_level()
    if min_level is not None:
        fragment = sql.LOG_MIN_LEVEL_ERROR if min_level >= ERROR_LEVELNO else sql.LOG_MIN_LEVEL
        where.add(fragment, min_level)
    step = params.text("step")
    if step is not None:
        where.add(sql.LOG_STEP, step)
    pattern = params.search()
    if pattern is not None:
        where.add(search, pattern)
    return params.time_range(datetime.now(UTC))


def add_window(where: Where, since: datetime | None, until: datetime | None) -> None:
    if since is not None:
        where.add(sql.LOG_SINCE, since)
    if until is not None:
        where.add(sql.LOG_UNTIL, until)


@routes.get("/v1/runs/{run_id}/logs")
@requires("read")
async def list_run_logs(request: web.Request) -> web.Response:
    params = Params.of(request, RUN_LOGS_PARAMS)
    run_id = path_run_id(request)
    where = Where()
    where.add(sql.LOG_RUN, run_id)
    db = request.app[READ_DB]
    add_window(where, *log_filters(params, where, await db.search_fragment()))
    cursor = params.cursor("run-logs", 2)
    if cursor is not None:
        where.add(sql.LOG_AFTER, cursor_time(cursor[0]), cursor_int(cursor[1]))
    limit = params.limit()
    query = sql.LIST_RUN_LOGS.format(where=where.sql) + f" LIMIT {where.param(limit + 1)}"
    rows = await db.fetch(query, *where.args)
    if not rows and cursor is None and await db.fetchrow(sql.RUN_EXISTS, run_id) is None:
        raise Problem(404, "Not Found", f"no run {run_id}")
    return json_response(page(rows, limit, log_view, "run-logs", _log_key))


@routes.get("/v1/logs")
@requires("read")
async def list_logs(request: web.Request) -> web.Response:
    params = Params.of(request, LOGS_PARAMS, attrs=True)
    where = Where()
    job = params.text("job")
    if job is not None:
        where.add(sql.LOG_JOB, job)
    run_id = params.uuid("run_id")
    if run_id is not None:
        where.add(sql.LOG_RUN, run_id)
    fingerprint = params.text("fingerprint")
    if fingerprint is not None:
        where.add(sql.LOG_FINGERPRINT, fingerprint)
    db = request.app[READ_DB]
    levels, min_level = params.levels(), params.min_level()
    since, until = log_filters(params, where, await db.search_fragment())
    add_attr_filters(where, params, sql.LOG_ATTR, sql.LOG_ATTR_EITHER)
    cursor = params.cursor("logs", 2)
    after = None if cursor is None else (cursor_time(cursor[0]), cursor_int(cursor[1]))
    limit = params.limit()
    errors_only = (
        fingerprint is not None
        or (min_level is not None and min_level >= ERROR_LEVELNO)
        or (levels is not None and min(levels) >= ERROR_LEVELNO)
    )
    if run_id is not None or errors_only:
        # A run's lines (primary key) and error lines (logs_errors_idx) come from a b-tree
        # in time order already: one query.
        add_window(where, since, until)
        if after is not None:
            where.add(sql.LOG_BEFORE, after[0], after[0], after[1])
        query = sql.LIST_LOGS.format(where=where.sql) + f" LIMIT {where.param(limit + 1)}"
        rows = await db.fetch(query, *where.args)
    else:
        rows = await newest_logs(db, where, since, until, after, limit + 1)
    return json_response(page(rows, limit, log_view, "logs", _log_key))


async def newest_logs(
    db: ReadDb,
    filters: Where,
    since: datetime | None,
    until: datetime | None,
    after: tuple[datetime, int] | None,
    want: int,
) -> list[asyncpg.Record]:
    """Logs newest first, a slice of time at a time, until the page is full.

    logs has a BRIN index on ts, not a b-tree (a b-tree costs every written line more than
    the rest of its indexes together), so a query can find a time range's blocks but not
    walk them in order: each slice is small enough to sort, and most pages fill from the
    first one (5 minutes). Each next slice is sized by the rows found so far: wide enough
    for the rows still wanted at the density seen, and at least as wide as what was read.
    A read that found nothing yet grows fourfold: a rare term then takes five queries over
    a day, not nine, and the last of them is big enough for a parallel scan.
    """
    rows: list[asyncpg.Record] = []
    top = after[0] if after is not None else until
    anchor = datetime.now(UTC) if top is None else min(top, datetime.now(UTC))
    width = SLICE_FIRST
    covered = timedelta(0)  # time read so far, newest first from the first anchor
    upper: datetime | None = None  # the first slice is bounded by the cursor or `until`
    while True:
        lower: datetime | None = anchor - width
        last = width > SLICE_LAST
        if last or (since is not None and lower is not None and lower <= since):
            lower, last = since, True
        where = filters.copy()
        add_window(where, lower, upper)
        if upper is None:
            if after is not None:
                where.add(sql.LOG_BEFORE, after[0], after[0], after[1])
            elif until is not None:
                where.add(sql.LOG_UNTIL, until)
        query = sql.LIST_LOGS.format(where=where.sql) + f" LIMIT {where.param(want - len(rows))}"
        rows += await db.fetch(query, *where.args)
        if len(rows) >= want or last:
            return rows
        assert lower is not None
        upper = anchor = lower
        covered += width
        width = next_slice(covered, len(rows), want)


def next_slice(covered: timedelta, found: int, want: int) -> timedelta:
    """The width of the next slice, after `found` rows in `covered` time."""
    if not found:
        return covered * SLICE_GROWTH_EMPTY
    # Half again the width the density so far asks for, so one more slice usually does.
    needed = covered * (want - found) / found * 1.5
    return min(max(needed, covered), covered * SLICE_GROWTH_EMPTY)
