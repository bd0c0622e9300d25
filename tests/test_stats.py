"""GET /v1/stats/{summary,jobs,errors,by,timeseries}: figures over a window of days."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from ingestd.read import sql
from ingestd.read.sql import Where
from ingestd.read.stats_cache import STATS_CACHE
from tests import read_helpers
from tests.conftest import Served
from tests.read_helpers import READ, Seeded, bad, get, iso, rid, run_event, send

seeded = read_helpers.seeded
empty = read_helpers.empty

# The runs started in the last 7 days (all but sync_ok_old), finished ones' durations in ms.
WEEK_DURATIONS = [60_000, 240_000, 600_000, 180_000, 30_000, 15_000, 60_000, 45_000]
WEEK_LOG_COUNTS = {
    "trace": 0, "debug": 0, "info": 7, "success": 1, "warning": 1, "error": 3, "critical": 1,
}  # fmt: skip


async def test_summary_of_the_last_seven_days(seeded: Seeded) -> None:
    summary = await get(seeded.server, "v1/stats/summary", days="7")
    assert summary["total_runs"] == 9
    assert summary["success_count"] == 4
    assert summary["failure_count"] == 3
    assert summary["warning_count"] == 1
    assert summary["running_count"] == 1
    # Percent of finished runs (8) that succeeded, with or without warnings, one decimal.
    assert summary["success_rate"] == 62.5
    assert summary["avg_duration_ms"] == sum(WEEK_DURATIONS) / 8
    assert summary["p50_duration_ms"] == 60_000.0
    assert summary["p95_duration_ms"] == 474_000.0  # interpolated, as percentile_cont does
    assert summary["log_counts"] == WEEK_LOG_COUNTS
    recent = summary["recent_runs"]
    assert len(recent) == 9
    assert recent[0]["run_id"] == seeded.runs["import_running"]
    assert [r["started_at"] for r in recent] == sorted(
        (r["started_at"] for r in recent), reverse=True
    )


async def test_summary_days_and_job(seeded: Seeded) -> None:
    month = await get(seeded.server, "v1/stats/summary", days="30")
    assert month["total_runs"] == 10
    assert month["success_rate"] == 66.7  # 5 successes and a warning of 9 finished
    sync = await get(seeded.server, "v1/stats/summary", days="7", job="vapi-sync")
    assert (sync["total_runs"], sync["success_count"], sync["failure_count"]) == (2, 1, 1)
    assert len(sync["recent_runs"]) == 2
    nothing = await get(seeded.server, "v1/stats/summary", job="nobody")
    assert nothing["total_runs"] == 0 and nothing["success_rate"] is None
    assert nothing["avg_duration_ms"] is None and nothing["recent_runs"] == []


async def test_figures_per_job(seeded: Seeded) -> None:
    body = await get(seeded.server, "v1/stats/jobs", days="7")
    items = {item["job"]: item for item in body["items"]}
    assert list(items) == ["atm-retrieval", "backup-import", "profile-maintenance", "vapi-sync"]
    profiles = items["profile-maintenance"]
    assert (profiles["total_runs"], profiles["success_count"]) == (4, 2)
    assert (profiles["failure_count"], profiles["warning_count"]) == (1, 1)
    assert profiles["success_rate"] == 75.0  # the warning run succeeded too
    assert profiles["p50_duration_ms"] == 37_500.0
    assert profiles["p95_duration_ms"] == 57_750.0  # interpolated like percentile_cont
    assert items["backup-import"]["running_count"] == 1
    assert items["atm-retrieval"]["log_counts"]["critical"] == 1


async def errors(seeded: Seeded, by: str, **params: Any) -> list[dict[str, Any]]:
    body = await get(seeded.server, "v1/stats/errors", by=by, days="7", **params)
    assert body["by"] == by
    items: list[dict[str, Any]] = body["items"]
    return items


async def test_errors_by_step(seeded: Seeded) -> None:
    items = await errors(seeded, "step")
    assert [(i["key"], i["error_count"], i["affected_runs"]) for i in items] == [
        ("AUTH", 2, 1), ("FETCH", 1, 1), ("LOGIN", 1, 1),
    ]  # fmt: skip
    auth = items[0]
    assert auth["first_seen"] == iso(seeded.now - timedelta(minutes=199))
    assert auth["last_seen"] == iso(seeded.now - timedelta(minutes=198))
    # The sample is the group's newest line, with its run and error.
    assert auth["sample"]["message"] == "Authentication failed for terminal T02: 403"
    assert auth["sample"]["run_id"] == seeded.runs["atm_t02_failed"]
    fetch = items[1]
    assert fetch["sample"]["error"] == {"type": "TimeoutError", "message": "Timeout after 30000 ms"}


async def test_errors_by_job_fingerprint_and_attribute(seeded: Seeded) -> None:
    by_job = await errors(seeded, "job")
    assert [(i["key"], i["error_count"]) for i in by_job] == [
        ("atm-retrieval", 2), ("profile-maintenance", 1), ("vapi-sync", 1),
    ]  # fmt: skip
    # The two authentication failures differ only in a number: one fingerprint.
    by_fingerprint = await errors(seeded, "fingerprint")
    assert [i["error_count"] for i in by_fingerprint] == [2, 1, 1]
    assert by_fingerprint[0]["sample"]["step"] == "AUTH"
    by_terminal = await errors(seeded, "attr.terminal_id")
    assert [(i["key"], i["error_count"]) for i in by_terminal] == [("T02", 2), (None, 2)]
    by_profile = await errors(seeded, "attr.profile_id", job="profile-maintenance")
    assert [(i["key"], i["error_count"]) for i in by_profile] == [("2", 1)]
    assert await errors(seeded, "step", job="nobody") == []
    assert len(await errors(seeded, "step", limit="1")) == 1


def _scans_under_grouping(node: dict[str, Any], grouping: bool = False) -> list[dict[str, Any]]:
    """Scan nodes below the aggregate that groups per (key, run) in an EXPLAIN (FORMAT JSON)."""
    grouping = grouping or any("run_id" in key for key in node.get("Group Key", ()))
    found = [node] if grouping and "Relation Name" in node else []
    for child in node.get("Plans", ()):
        found += _scans_under_grouping(child, grouping)
    return found


async def _plan_scans(
    server: Served, query: str, args: list[Any], grouping: bool
) -> list[tuple[str, str]]:
    """(node type, index definition and conditions) of each scan below the grouping (all
    scans if not `grouping`), planned as for many rows: the planner is kept off plans that
    read a whole table, as it is with a week of runs and lines."""
    async with server.db.acquire() as conn, conn.transaction():
        for plan_kind in ("seqscan", "bitmapscan"):
            await conn.execute(f"SET LOCAL enable_{plan_kind} = off")
        plan = orjson.loads(await conn.fetchval(f"EXPLAIN (FORMAT JSON) {query}", *args))
        scans = _scans_under_grouping(plan[0]["Plan"], grouping=not grouping)
        described = []
        for scan in scans:
            indexdef = await conn.fetchval(
                "SELECT indexdef FROM pg_indexes WHERE indexname = $1", scan.get("Index Name")
            )
            conditions = (indexdef or "", scan.get("Index Cond", ""), scan.get("Filter", ""))
            described.append((scan["Node Type"], " ".join(conditions)))
        return described


def _read_from_indexes_alone(scans: list[tuple[str, str]]) -> bool:
    """Index-only scans, but for the branch of attrs too big for an index entry (which
    may read the table any way the planner likes: the planner is told not to here)."""
    big = ("::text) > 300)", "small_attrs IS NULL")
    common = [node for node, text in scans if not any(mark in text for mark in big)]
    return bool(common) and all(node == "Index Only Scan" for node in common)


async def test_error_groupings_read_the_error_indexes_alone(seeded: Seeded) -> None:
    # Grouping by an attribute reads no table page, like grouping by step (the attrs of
    # error lines are in logs_error_attrs_idx), but for lines with big attrs (007).
    for by in ("attr.terminal_id", "step", "fingerprint"):
        where = Where()
        where.add(sql.ERRORS_WINDOW, seeded.now - timedelta(days=7))
        by_attr = by.startswith("attr.")
        if by_attr:
            key = sql.ERROR_ATTR_KEY.format(param=where.param(by[len("attr.") :]))
        else:
            key = sql.ERROR_KEYS[by]
        query = sql.stats_errors(key, where.sql, where.param(50), by_attr=by_attr)
        scans = await _plan_scans(seeded.server, query, where.args, grouping=True)
        assert _read_from_indexes_alone(scans), (by, scans)


async def test_stats_by_attribute_reads_the_runs_index_alone(empty: Served) -> None:
    # A month of 20,000 runs of 50 jobs: enough for the planner to plan as for a real week
    # (with a few runs it reads them newest first from runs_started_idx, which is as good).
    async with empty.db.acquire() as conn:
        await conn.execute(
            """INSERT INTO runs (run_id, job, status, started_at, finished_at, attrs)
               SELECT gen_random_uuid(), 'job-' || i % 50, 'success',
                      now() - i * interval '2 minutes', now() - i * interval '2 minutes',
                      jsonb_build_object('profile_id', 'p' || i % 300)
               FROM generate_series(1, 20000) AS i"""
        )
        await conn.execute("VACUUM ANALYZE runs")
    where = Where()
    where.add(sql.STATS_WINDOW, datetime.now(UTC) - timedelta(days=7))
    key = where.param("profile_id")
    query = sql.STATS_BY_ATTR.format(key=key, where=where.sql, limit=where.param(50))
    scans = await _plan_scans(empty, query, where.args, grouping=False)
    assert _read_from_indexes_alone(scans), scans


async def test_the_sample_is_a_line_the_filters_keep(empty: Served) -> None:
    # Two jobs fail in the same step at the same instant: with job=, the group's sample is
    # that job's line, not the other's.
    ts = iso(datetime.now(UTC) - timedelta(minutes=5))
    await send(
        empty,
        *(
            {"job": job, "ts": ts, "level": "error", "step": "SAVE", "message": f"{job} failed"}
            for job in ("import-a", "import-b")
        ),
    )
    for job in ("import-a", "import-b"):
        items = (await get(empty, "v1/stats/errors", by="step", job=job, fresh=True))["items"]
        assert [(i["key"], i["error_count"]) for i in items] == [("SAVE", 1)]
        assert items[0]["sample"]["job"] == job
        assert items[0]["sample"]["message"] == f"{job} failed"


async def test_stats_per_attribute_value(seeded: Seeded) -> None:
    body = await get(seeded.server, "v1/stats/by", attr="profile_id", days="7")
    # profile_id 1 as a number and "1" as a string are one profile.
    assert body["items"] == [
        {"key": "1", "total": 3, "success": 2, "failed": 0, "warning": 1,
         "success_rate": 100.0, "avg_duration_ms": 45_000.0},
        {"key": "2", "total": 1, "success": 0, "failed": 1, "warning": 0,
         "success_rate": 0.0, "avg_duration_ms": 15_000.0},
    ]  # fmt: skip
    terminals = await get(seeded.server, "v1/stats/by", attr="terminal_id")
    assert [(i["key"], i["success"], i["failed"]) for i in terminals["items"]] == [
        ("T01", 1, 0), ("T02", 0, 1),
    ]  # fmt: skip
    none = await get(seeded.server, "v1/stats/by", attr="no_such_key")
    assert none["items"] == []


async def test_timeseries_by_hour_and_day(seeded: Seeded) -> None:
    body = await get(seeded.server, "v1/stats/timeseries", days="1", bucket="hour")
    items = body["items"]
    buckets = [datetime.fromisoformat(i["bucket"]) for i in items]
    assert buckets == sorted(buckets)
    assert all(b.minute == 0 and b.second == 0 for b in buckets)
    assert sum(sum(i["runs_by_status"].values()) for i in items) == 9
    statuses: dict[str, int] = {}
    for item in items:
        for status, n in item["runs_by_status"].items():
            statuses[status] = statuses.get(status, 0) + n
    assert statuses == {"success": 4, "failed": 3, "warning": 1, "running": 1}
    levels = {name: sum(i["logs_by_level"][name] for i in items) for name in WEEK_LOG_COUNTS}
    assert levels == WEEK_LOG_COUNTS
    days = await get(seeded.server, "v1/stats/timeseries", days="30", bucket="day")
    assert sum(i["total_runs"] for i in days["items"]) == 10
    assert all(datetime.fromisoformat(i["bucket"]).hour == 0 for i in days["items"])
    sync = await get(seeded.server, "v1/stats/timeseries", days="1", job="vapi-sync")
    assert sum(i["total_runs"] for i in sync["items"]) == 2


async def test_every_bad_parameter_is_a_400_naming_it(seeded: Seeded) -> None:
    server = seeded.server
    await bad(server, "v1/stats/summary", "days", days="0")
    await bad(server, "v1/stats/summary", "days", days="seven")
    await bad(server, "v1/stats/jobs", "bucket", bucket="day")
    await bad(server, "v1/stats/errors", "by", by="phase")
    await bad(server, "v1/stats/errors", "by", by="attr.")
    await bad(server, "v1/stats/errors", "limit", limit="5000")
    await bad(server, "v1/stats/by", "attr")
    await bad(server, "v1/stats/by", "attr", attr="")
    await bad(server, "v1/stats/timeseries", "bucket", bucket="week")
    await bad(server, "v1/stats/timeseries", "days", days="-1")


async def test_answers_are_kept_a_few_seconds(seeded: Seeded) -> None:
    server = seeded.server
    cache = server.app[STATS_CACHE]
    path, query = "v1/stats/summary", {"days": "3", "job": "vapi-sync"}
    misses = cache.misses
    # Concurrent identical requests share one computation.
    answers = await asyncio.gather(*(get(server, path, **query) for _ in range(5)))
    assert all(a == answers[0] for a in answers)
    assert cache.misses == misses + 1
    async with server.http.get(path, params=query, headers=READ) as answer:
        assert answer.headers["Cache-Control"] == f"max-age={int(cache.ttl_s)}"
        assert int(answer.headers["Age"]) <= cache.ttl_s
    await get(server, path, fresh=True, **query)  # recomputed, not counted as a cache miss
    assert cache.misses == misses + 1
    # A different query is another answer; bad parameters are refused, never kept.
    await get(server, path, days="4")
    assert cache.misses == misses + 2
    for _ in range(2):
        await bad(server, path, "days", days="0")
    assert cache.misses == misses + 4


async def test_runs_and_error_lines_with_big_attrs_are_stored_and_counted(empty: Served) -> None:
    # attrs may be up to 64 KiB, more than an index entry holds (about 2.7 kB): an index
    # that carried them whole made such an error line fail to write (it was dead-lettered).
    # Big attrs are kept out of the covering indexes and counted from the table instead.
    blob = secrets.token_hex(3200)  # 6,400 random characters: they do not compress
    small_run, big_run = rid(), rid()
    ts = iso(datetime.now(UTC) - timedelta(minutes=5))
    await send(
        empty,
        run_event(small_run, job="import", status="failed", ts=ts, attrs={"terminal_id": "T01"}),
        run_event(big_run, job="import", status="failed", ts=ts,
                  attrs={"terminal_id": "T01", "blob": blob}),
        {"run_id": small_run, "ts": ts, "level": "error", "step": "SAVE", "message": "small",
         "attrs": {"terminal_id": "T01"}},
        {"run_id": big_run, "ts": ts, "level": "error", "step": "SAVE", "message": "big",
         "attrs": {"terminal_id": "T01", "blob": blob}},
        {"run_id": big_run, "ts": ts, "level": "error", "step": "SAVE", "message": "no attrs"},
    )  # fmt: skip
    stored = await get(empty, "v1/logs", min_level="error")
    assert sorted(log["message"] for log in stored["items"]) == ["big", "no attrs", "small"]
    by_terminal = await get(empty, "v1/stats/errors", by="attr.terminal_id", fresh=True)
    assert [(i["key"], i["error_count"], i["affected_runs"]) for i in by_terminal["items"]] == [
        ("T01", 2, 2), (None, 1, 1),
    ]  # fmt: skip
    runs = await get(empty, "v1/stats/by", attr="terminal_id", fresh=True)
    assert [(i["key"], i["total"], i["failed"]) for i in runs["items"]] == [("T01", 2, 2)]
    async with empty.db.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM dead_letters") == 0
