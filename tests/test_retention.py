"""Retention: whole day partitions dropped; failed and warning runs' logs kept longer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from ingestd.db import database
from ingestd.monitoring.retention import RETENTION, RETENTION_LOCK
from tests.conftest import Served
from tests.monitor_helpers import run, send, today_partition

Factory = Callable[..., Awaitable[Served]]


def noon(days_ago: int) -> datetime:
    return datetime.combine(datetime.now(UTC).date() - timedelta(days=days_ago), time(12), UTC)


def day(days_ago: int) -> date:
    return datetime.now(UTC).date() - timedelta(days=days_ago)


def logs_of(run_event: dict[str, Any], at: datetime, count: int) -> list[dict[str, Any]]:
    return [
        {"message": f"line {i}", "run_id": run_event["run_id"], "ts": at.isoformat()}
        for i in range(count)
    ]


async def partitions(server: Served) -> set[str]:
    rows = await server.db.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'logs'::regclass"
    )
    return {r["relname"] for r in rows}


async def log_count(server: Served, run_id: str) -> int:
    count: int = await server.db.fetchval("SELECT count(*) FROM logs WHERE run_id = $1", run_id)
    return count


async def test_old_days_are_dropped_whole_and_failed_runs_logs_kept(
    server_factory: Factory,
) -> None:
    server = await server_factory(monitor_interval_s=3600)
    await today_partition(server.db)
    async with server.db.acquire() as conn:
        await database.ensure_partitions(conn, [day(100), day(40), day(35), day(5)])
    runs: dict[tuple[int, str], dict[str, Any]] = {}
    events: list[dict[str, Any]] = []
    for days_ago in (100, 40, 35, 5):
        for status in ("success", "failed", "warning"):
            event = runs[days_ago, status] = run("nightly", noon(days_ago), status=status)
            events += [event, *logs_of(event, noon(days_ago), 3)]
        events.append({"message": "no run", "job": "nightly", "ts": noon(days_ago).isoformat()})
    # A failed run that started the evening before and logged past midnight.
    late = runs[41, "failed"] = run("nightly", noon(41) + timedelta(hours=11), status="failed")
    events += [late, *logs_of(late, noon(40) - timedelta(hours=11), 2)]
    await send(server, *events)

    report = await server.app[RETENTION].run_once()

    assert report is not None
    names = await partitions(server)
    assert f"logs_p{day(100):%Y%m%d}" not in names
    assert f"logs_k{day(100):%Y%m%d}" not in names
    for days_ago in (40, 35):
        assert f"logs_p{day(days_ago):%Y%m%d}" not in names
        assert f"logs_k{day(days_ago):%Y%m%d}" in names
    assert f"logs_p{day(5):%Y%m%d}" in names
    assert report.dropped == [f"logs_p{day(100):%Y%m%d}"]
    assert report.reduced == {f"logs_p{day(40):%Y%m%d}": 8, f"logs_p{day(35):%Y%m%d}": 6}
    assert report.log_rows_removed == 10 + 4 + 4
    kept = {key: await log_count(server, r["run_id"]) for key, r in runs.items()}
    assert kept == {
        (100, "success"): 0, (100, "failed"): 0, (100, "warning"): 0,
        (41, "failed"): 2,
        (40, "success"): 0, (40, "failed"): 3, (40, "warning"): 3,
        (35, "success"): 0, (35, "failed"): 3, (35, "warning"): 3,
        (5, "success"): 3, (5, "failed"): 3, (5, "warning"): 3,
    }  # fmt: skip
    # Runs and their counters outlive their logs.
    assert await server.db.fetchval("SELECT count(*) FROM runs WHERE job = 'nightly'") == 13

    again = await server.app[RETENTION].run_once()
    assert again is not None
    assert (again.dropped, again.reduced, again.log_rows_removed) == ([], {}, 0)

    async with server.http.get("metrics") as answer:
        text = await answer.text()
    assert "ingestd_retention_partitions_dropped_total 3.0" in text
    assert "ingestd_retention_log_rows_removed_total 18.0" in text
    assert "ingestd_retention_log_rows_kept_total 14.0" in text


async def test_stray_rows_in_the_default_partition_are_deleted_row_by_row(
    server_factory: Factory,
) -> None:
    server = await server_factory(monitor_interval_s=3600)
    await today_partition(server.db)
    ok, failed = run("j", noon(50)), run("j", noon(50), status="failed")
    ancient = run("j", noon(95), status="failed")
    await send(
        server, ok, failed, ancient, *logs_of(ok, noon(50), 2), *logs_of(failed, noon(50), 2),
        *logs_of(ancient, noon(95), 2),
    )  # fmt: skip
    assert await server.db.fetchval("SELECT count(*) FROM logs_default") == 6
    report = await server.app[RETENTION].run_once()
    assert report is not None
    assert report.log_rows_removed == 4
    assert (await log_count(server, ok["run_id"]), await log_count(server, failed["run_id"])) == (
        0,
        2,
    )


async def test_runs_older_than_their_own_setting_are_deleted(server_factory: Factory) -> None:
    server = await server_factory(monitor_interval_s=3600, retention_runs_days=365)
    old, recent = run("j", noon(400)), run("j", noon(300))
    running = run("j", noon(500), status="running", seconds=None)
    await send(server, old, recent, running)
    report = await server.app[RETENTION].run_once()
    assert report is not None
    assert report.runs_deleted == 1
    left = {r["run_id"] for r in await server.db.fetch("SELECT run_id::text FROM runs")}
    assert left == {recent["run_id"], running["run_id"]}


async def test_a_second_replica_leaves_retention_to_the_first(server_factory: Factory) -> None:
    first = await server_factory(monitor_interval_s=3600)
    second = await server_factory(first.settings.database_url, monitor_interval_s=3600)
    holder = await first.db.acquire()
    try:
        assert await holder.fetchval("SELECT pg_try_advisory_lock($1)", RETENTION_LOCK)
        assert await second.app[RETENTION].run_once() is None
        await holder.execute("SELECT pg_advisory_unlock($1)", RETENTION_LOCK)
        assert await second.app[RETENTION].run_once() is not None
    finally:
        await first.db.release(holder)
