"""DELETE /v1/logs and /v1/runs: retention. Whole day partitions are dropped, not emptied."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from typing import Any

from ingestd.db import database
from tests import read_helpers
from tests.conftest import Served
from tests.read_helpers import ADMIN, READ, get, iso, rid, run_event, send

empty = read_helpers.empty


async def delete(server: Served, path: str, expect: int = 200, /, **params: str) -> Any:
    async with server.http.delete(path, params=params, headers=ADMIN) as answer:
        body = await answer.json(content_type=None)
        assert answer.status == expect, body
        return body


async def partitions(server: Served) -> set[str]:
    rows = await server.db.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'logs'::regclass"
    )
    return {r["relname"] for r in rows}


async def test_old_logs_go_a_partition_at_a_time(empty: Served) -> None:
    server = empty
    today = datetime.now(UTC).date()
    midnight = datetime.combine(today, time(), UTC)
    wanted = {f"logs_p{today - timedelta(days=d):%Y%m%d}" for d in (5, 4, 3)}
    while not wanted <= await partitions(server):  # days back, as a long-running daemon has
        async with server.db.acquire() as conn:  # (skipped while the daemon's upkeep runs)
            await database.ensure_partitions(conn, [today - timedelta(days=d) for d in (5, 4, 3)])
        await asyncio.sleep(0.01)

    def at(days: int, hours: int = 12) -> str:
        return iso(midnight - timedelta(days=days) + timedelta(hours=hours))

    await send(
        server,
        *({"job": "sync", "message": f"day -5 #{i}", "ts": at(5)} for i in range(2)),
        *({"job": "sync", "message": f"day -4 #{i}", "ts": at(4)} for i in range(3)),
        {"job": "sync", "message": "day -3", "ts": at(3)},
        {"job": "sync", "message": "ten days back", "ts": at(10)},  # the default partition
        {"job": "sync", "message": "today", "ts": iso(datetime.now(UTC))},
        {"job": "import", "message": "day -3 import", "ts": at(3, 1)},
    )
    partitions_before = await partitions(server)
    # Everything before day -3 begins: days -5 and -4 are dropped whole, the stray line in
    # the default partition is deleted.
    answer = await delete(server, "v1/logs", before=iso(midnight - timedelta(days=3)))
    assert answer == {"deleted": 6, "dropped_partitions": 2}
    gone = {f"logs_p{today - timedelta(days=d):%Y%m%d}" for d in (5, 4)}
    assert partitions_before - await partitions(server) == gone
    left = [log["message"] for log in (await get(server, "v1/logs"))["items"]]
    assert left == ["today", "day -3", "day -3 import"]
    # With a job, only that job's lines, row by row; partitions stay.
    answer = await delete(server, "v1/logs", before=iso(datetime.now(UTC)), job="import")
    assert answer == {"deleted": 1, "dropped_partitions": 0}
    left = [log["message"] for log in (await get(server, "v1/logs"))["items"]]
    assert left == ["today", "day -3"]
    # Lines for a dropped day can still arrive later: they land in the default partition.
    await send(server, {"job": "sync", "message": "late", "ts": at(5)})
    (late,) = (await get(server, "v1/logs", until=at(4)))["items"]
    assert late["message"] == "late"
    # The cutoff's own day is cut row by row.
    answer = await delete(server, "v1/logs", before=at(3, 13))
    assert answer == {"deleted": 2, "dropped_partitions": 0}


async def test_old_runs_are_deleted(empty: Served) -> None:
    old, recent, other_old = rid(), rid(), rid()
    await send(
        empty,
        run_event(old, job="import", started_at="2026-01-01T00:00:00Z", status="success"),
        run_event(other_old, job="sync", started_at="2026-01-02T00:00:00Z", status="failed"),
        run_event(recent, job="import", started_at=iso(datetime.now(UTC))),
    )
    answer = await delete(empty, "v1/runs", before="2026-02-01T00:00:00Z", job="sync")
    assert answer == {"deleted": 1}
    answer = await delete(empty, "v1/runs", before="30d")
    assert answer == {"deleted": 1}
    remaining = [run["run_id"] for run in (await get(empty, "v1/runs"))["items"]]
    assert remaining == [recent]
    assert (await delete(empty, "v1/runs", before="30d")) == {"deleted": 0}


async def test_deleting_needs_admin_and_a_cutoff(empty: Served) -> None:
    for path in ("v1/logs", "v1/runs"):
        problem = await delete(empty, path, 400)
        assert problem["parameter"] == "before"
        problem = await delete(empty, path, 400, before="last tuesday")
        assert problem["parameter"] == "before"
        problem = await delete(empty, path, 400, before="1d", older="yes")
        assert problem["parameter"] == "older"
        async with empty.http.delete(path, params={"before": "1d"}, headers=READ) as answer:
            assert answer.status == 403
        async with empty.http.delete(path, params={"before": "1d"}) as answer:
            assert answer.status == 401
