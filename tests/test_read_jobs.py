"""GET /v1/jobs: one row per job with its last run, figures over a window, and health."""

from __future__ import annotations

from typing import Any

from tests import read_helpers
from tests.conftest import Served
from tests.read_helpers import ADMIN, Seeded, bad, get, rid, run_event, send

seeded = read_helpers.seeded
empty = read_helpers.empty


async def jobs(seeded: Seeded, **params: Any) -> dict[str, dict[str, Any]]:
    body = await get(seeded.server, "v1/jobs", **params)
    assert body["next_cursor"] is None
    return {item["job"]: item for item in body["items"]}


async def test_one_row_per_job_with_runs(seeded: Seeded) -> None:
    body = await get(seeded.server, "v1/jobs")
    # Sorted by name; logs outside runs (cron-cleanup) make no job row.
    assert [item["job"] for item in body["items"]] == [
        "atm-retrieval", "backup-import", "profile-maintenance", "vapi-sync",
    ]  # fmt: skip
    assert body["days"] == 7
    for item in body["items"]:
        assert set(item) >= {
            "job", "last_run", "runs_total", "success_rate", "avg_duration_ms", "health",
        }  # fmt: skip


async def test_figures_and_health(seeded: Seeded) -> None:
    rows = await jobs(seeded)
    atm = rows["atm-retrieval"]
    assert atm["last_run"]["run_id"] == seeded.runs["atm_t02_failed"]
    assert atm["last_run"]["status"] == "failed"
    assert atm["runs_total"] == 2
    assert atm["success_rate"] == 50.0
    assert atm["avg_duration_ms"] == (600_000 + 180_000) / 2
    assert atm["health"] == "failing"
    profiles = rows["profile-maintenance"]
    assert profiles["runs_total"] == 4
    assert profiles["success_rate"] == 75.0  # success, success, warning, failed
    assert profiles["avg_duration_ms"] == 37_500.0
    assert profiles["health"] == "ok"
    assert profiles["last_run"]["run_id"] == seeded.runs["profile_1_str"]
    importing = rows["backup-import"]
    assert importing["last_run"]["status"] == "running"
    assert importing["runs_total"] == 1
    assert importing["success_rate"] is None and importing["avg_duration_ms"] is None
    assert importing["health"] == "unknown"  # nothing has ended yet


async def test_days_sets_the_window_of_the_figures(seeded: Seeded) -> None:
    week = (await jobs(seeded))["vapi-sync"]
    assert week["runs_total"] == 2 and week["success_rate"] == 50.0
    month = (await jobs(seeded, days="30"))["vapi-sync"]
    assert month["runs_total"] == 3
    assert month["success_rate"] == 66.7  # 2 of 3, one decimal
    assert month["avg_duration_ms"] == (120_000 + 60_000 + 240_000) / 3
    # The last run does not depend on the window.
    assert week["last_run"] == month["last_run"]


async def test_recent_gives_each_jobs_newest_runs_in_the_same_answer(seeded: Seeded) -> None:
    assert all("recent_runs" not in row for row in (await jobs(seeded)).values())
    rows = await jobs(seeded, recent="3")
    vapi = rows["vapi-sync"]["recent_runs"]
    # Newest first, whatever the days window (the oldest is 10 days back).
    assert [r["run_id"] for r in vapi] == [
        seeded.runs["sync_ok"], seeded.runs["sync_failed"], seeded.runs["sync_ok_old"],
    ]  # fmt: skip
    assert vapi[1]["status"] == "failed" and vapi[1]["duration_ms"] == 60_000
    for job, row in rows.items():
        listed = await get(seeded.server, "v1/runs", job=job, limit="3")
        assert row["recent_runs"] == [
            {k: run[k] for k in ("run_id", "status", "started_at", "duration_ms")}
            | {"missed": False}
            for run in listed["items"]
        ]


async def test_health_follows_the_latest_run_that_ended(empty: Served) -> None:
    failed, running, cancelled = rid(), rid(), rid()
    await send(
        empty,
        run_event(failed, job="backup", started_at="2026-01-01T00:00:00Z", status="failed"),
        run_event(cancelled, job="backup", started_at="2026-01-01T01:00:00Z", status="cancelled"),
        run_event(running, job="backup", started_at="2026-01-01T02:00:00Z"),
    )
    (row,) = (await get(empty, "v1/jobs", days="3660"))["items"]
    # A cancelled run says nothing about health; the running one has not ended.
    assert row["health"] == "failing"
    assert row["last_run"]["run_id"] == running
    await send(empty, run_event(running, status="success"))
    (row,) = (await get(empty, "v1/jobs", days="3660"))["items"]
    assert row["health"] == "failing"  # the answer is kept a few seconds...
    (row,) = (await get(empty, "v1/jobs", days="3660", fresh=True))["items"]
    assert row["health"] == "ok"  # ...unless asked for afresh


async def test_a_run_that_ended_in_warning_is_a_success_with_warnings(empty: Served) -> None:
    # One definition for health and every success_rate: a warning run succeeded.
    await send(
        empty,
        run_event(rid(), job="nightly-warn", started_at="2026-01-01T00:00:00Z", status="warning"),
    )
    [row] = [r for r in (await get(empty, "v1/jobs", days="3660", fresh=True))["items"]
             if r["job"] == "nightly-warn"]  # fmt: skip
    assert (row["health"], row["success_rate"]) == ("ok", 100.0)
    summary = await get(empty, "v1/stats/summary", days="3660", job="nightly-warn", fresh=True)
    assert (summary["success_count"], summary["warning_count"]) == (0, 1)
    assert summary["success_rate"] == 100.0
    per_job = await get(empty, "v1/stats/jobs", days="3660", fresh=True)
    assert [r["success_rate"] for r in per_job["items"] if r["job"] == "nightly-warn"] == [100.0]


async def test_bad_parameters(seeded: Seeded) -> None:
    await bad(seeded.server, "v1/jobs", "days", days="0")
    await bad(seeded.server, "v1/jobs", "days", days="week")
    await bad(seeded.server, "v1/jobs", "days", days="100000")
    await bad(seeded.server, "v1/jobs", "job", job="vapi-sync")
    await bad(seeded.server, "v1/jobs", "recent", recent="101")
    await bad(seeded.server, "v1/jobs", "recent", recent="some")


async def test_a_job_with_settings_and_no_run_yet_is_listed(empty: Served) -> None:
    settings = {"every": "1d"}
    async with empty.http.put("v1/jobs/nightly-export", json=settings, headers=ADMIN) as answer:
        assert answer.status == 201, await answer.text()
    await send(empty, run_event(rid(), job="backup", started_at="2026-01-01T00:00:00Z"))
    rows = {item["job"]: item for item in (await get(empty, "v1/jobs", fresh=True))["items"]}
    assert sorted(rows) == ["backup", "nightly-export"]
    never = rows["nightly-export"]
    assert never["last_run"] is None and never["runs_total"] == 0
    assert never["success_rate"] is None and never["avg_duration_ms"] is None
    assert never["health"] == "waiting"  # a schedule, no run yet
