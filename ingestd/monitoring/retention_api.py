"""Admin: clearing old logs and runs (retention). Both answer {"deleted": N}.

Logs wholly older than the cutoff go a day partition at a time (detach and drop: no row is
visited, no table bloats); only what remains (the cutoff's own day, the default partition,
or a single job's logs) is deleted row by row.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import asyncpg
from aiohttp import web

from ingestd.db.database import PARTITION_LOCK, Conn
from ingestd.http.auth import requires
from ingestd.http.problems import Problem, bad_param
from ingestd.http.responses import json_response
from ingestd.read import sql
from ingestd.read.db import READ_DB
from ingestd.read.params import Params

routes = web.RouteTableDef()

#: Deleting millions of rows takes a while; reads have a shorter budget.
ADMIN_TIMEOUT_S = 600.0
#: How long a partition drop may wait for its lock on logs (every write waits behind it).
LOCK_TIMEOUT = "5s"
# logs_pYYYYMMDD (database.partition_name), logs_kYYYYMMDD (a day kept by retention.py)
_PARTITION = re.compile(r"logs_[pk](\d{4})(\d{2})(\d{2})\Z")


def _cutoff(params: Params) -> datetime:
    before = params.time("before", datetime.now(UTC))
    if before is None:
        raise bad_param("before", "is required: delete what is older than this time")
    return before


def droppable(names: list[str], before: datetime) -> list[str]:
    """Day partitions that end at or before the cutoff, oldest first."""
    found = []
    for name in names:
        match = _PARTITION.match(name)
        if match is None:
            continue
        day = date(int(match[1]), int(match[2]), int(match[3]))
        if datetime.combine(day + timedelta(days=1), time(), UTC) <= before:
            found.append(name)
    return sorted(found)


async def _drop_partition(conn: Conn, name: str) -> int:
    """Detach and drop one day partition (its own short transaction); its row count."""
    if _PARTITION.match(name) is None:  # identifiers cannot be parameters: names are checked
        raise ValueError(f"not a log partition: {name!r}")
    async with conn.transaction():
        await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        await conn.execute("SELECT pg_advisory_xact_lock($1)", PARTITION_LOCK)
        count: int = await conn.fetchval(f"SELECT count(*) FROM {name}", timeout=ADMIN_TIMEOUT_S)
        await conn.execute(f"ALTER TABLE logs DETACH PARTITION {name}")
        await conn.execute(f"DROP TABLE {name}")
    return count


def _rows(status: str) -> int:
    return int(status.split()[-1])


@routes.delete("/v1/logs")
@requires("admin")
async def delete_logs(request: web.Request) -> web.Response:
    params = Params.of(request, ("before", "job"))
    before = _cutoff(params)
    job = params.text("job")
    deleted = dropped = 0
    async with request.app[READ_DB].connection() as conn:
        try:
            if job is None:
                names = [r["name"] for r in await conn.fetch(sql.LOG_PARTITIONS)]
                for name in droppable(names, before):
                    deleted += await _drop_partition(conn, name)
                    dropped += 1
                status = await conn.execute(sql.DELETE_LOGS_BEFORE, before, timeout=ADMIN_TIMEOUT_S)
            else:
                status = await conn.execute(
                    sql.DELETE_LOGS_BEFORE_JOB, before, job, timeout=ADMIN_TIMEOUT_S
                )
        except asyncpg.LockNotAvailableError:
            raise Problem(
                503,
                "Busy",
                f"logs are busy (long queries?); {deleted} deleted so far, try again",
                headers={"Retry-After": "5"},
            ) from None
    deleted += _rows(status)
    return json_response({"deleted": deleted, "dropped_partitions": dropped})


@routes.delete("/v1/runs")
@requires("admin")
async def delete_runs(request: web.Request) -> web.Response:
    params = Params.of(request, ("before", "job"))
    before = _cutoff(params)
    job = params.text("job")
    async with request.app[READ_DB].connection() as conn:
        if job is None:
            status = await conn.execute(sql.DELETE_RUNS_BEFORE, before, timeout=ADMIN_TIMEOUT_S)
        else:
            status = await conn.execute(
                sql.DELETE_RUNS_BEFORE_JOB, before, job, timeout=ADMIN_TIMEOUT_S
            )
    return json_response({"deleted": _rows(status)})
