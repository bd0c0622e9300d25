"""GET /v1/runs, /v1/runs/{id}, /v1/runs/{id}/logs: filters, keyset pages, errors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests import read_helpers
from tests.conftest import Served
from tests.read_helpers import INGEST_ONLY, READ, Seeded, bad, get, iso, rid, run_event, send

seeded = read_helpers.seeded
empty = read_helpers.empty

NEWEST_FIRST = [
    "import_running",
    "profile_1_str",
    "profile_1_warning",
    "profile_2_failed",
    "profile_1_ok",
    "sync_ok",
    "sync_failed",
    "atm_t02_failed",
    "atm_t01",
    "sync_ok_old",
]


def names(seeded: Seeded, items: list[dict[str, Any]]) -> list[str]:
    by_id = {run_id: name for name, run_id in seeded.runs.items()}
    return [by_id[item["run_id"]] for item in items]


async def runs(seeded: Seeded, **params: Any) -> list[str]:
    body = await get(seeded.server, "v1/runs", **params)
    return names(seeded, body["items"])


async def test_runs_come_newest_first_with_every_field(seeded: Seeded) -> None:
    body = await get(seeded.server, "v1/runs")
    assert names(seeded, body["items"]) == NEWEST_FIRST
    assert body["next_cursor"] is None
    sync_ok = body["items"][NEWEST_FIRST.index("sync_ok")]
    assert sync_ok["job"] == "vapi-sync"
    assert sync_ok["status"] == "success"
    assert sync_ok["trigger"] == "cron"
    assert sync_ok["duration_ms"] == 4 * 60_000
    assert sync_ok["counters"] == {
        "records_fetched": 120,
        "records_inserted": 118,
        "api_cost": 0.42,
    }
    assert sync_ok["log_counts"] == {
        "trace": 0, "debug": 0, "info": 3, "success": 1, "warning": 1, "error": 0, "critical": 0,
    }  # fmt: skip
    assert sync_ok["started_at"] == iso(seeded.now - timedelta(minutes=60))
    assert sync_ok["finished_at"] == iso(seeded.now - timedelta(minutes=56))
    assert set(sync_ok) >= {
        "run_id", "job", "status", "trigger", "started_at", "finished_at", "duration_ms",
        "progress", "step", "counters", "result", "error", "attrs", "log_counts", "last_event_at",
    }  # fmt: skip


async def test_runs_by_job_status_and_trigger(seeded: Seeded) -> None:
    assert await runs(seeded, job="vapi-sync") == ["sync_ok", "sync_failed", "sync_ok_old"]
    assert await runs(seeded, job="nobody") == []
    # A comma list, with the aliases ingest accepts, in any case.
    assert await runs(seeded, status="FAILURE,timed_out") == [
        "profile_2_failed", "sync_failed", "atm_t02_failed",
    ]  # fmt: skip
    assert await runs(seeded, status="warning,queued") == ["profile_1_warning"]
    assert await runs(seeded, status="running") == ["import_running"]
    assert await runs(seeded, trigger="manual") == ["profile_1_str"]
    assert await runs(seeded, job="atm-retrieval", status="ok") == ["atm_t01"]


async def test_a_running_run_shows_its_progress_and_step(seeded: Seeded) -> None:
    body = await get(seeded.server, "v1/runs", status="running")
    (run,) = body["items"]
    assert run["progress"] == 40
    assert run["step"] == "PARSE"
    assert run["finished_at"] is None and run["duration_ms"] is None
    assert run["counters"] == {"records_processed": 400}
    assert run["attrs"] == {"import_type": "backup", "filename": "backup-2025-06-27.json"}


async def test_runs_in_a_time_window(seeded: Seeded) -> None:
    now = seeded.now
    assert await runs(seeded, since="90m") == NEWEST_FIRST[:6]
    window = {"since": iso(now - timedelta(minutes=130)), "until": iso(now - timedelta(minutes=45))}
    assert await runs(seeded, **window) == ["profile_1_ok", "sync_ok", "sync_failed"]
    # Epoch seconds work too; since is inclusive, until exclusive.
    since = (now - timedelta(minutes=60)).timestamp()
    until = (now - timedelta(minutes=30)).timestamp()
    assert await runs(seeded, since=str(since), until=str(until)) == [
        "profile_2_failed", "profile_1_ok", "sync_ok",
    ]  # fmt: skip
    # An unencoded '+' in the zone arrives as a space; it still parses.
    plus = (now - timedelta(minutes=25)).strftime("%Y-%m-%dT%H:%M:%S") + " 00:00"
    assert await runs(seeded, since=plus) == NEWEST_FIRST[:2]


async def test_runs_by_attribute_match_numbers_and_strings(seeded: Seeded) -> None:
    # profile_id is 1 in two runs and "1" in another: attr.profile_id=1 means either.
    assert await runs(seeded, **{"attr.profile_id": "1"}) == [
        "profile_1_str", "profile_1_warning", "profile_1_ok",
    ]  # fmt: skip
    assert await runs(seeded, **{"attr.terminal_id": "T02"}) == ["atm_t02_failed"]
    assert await runs(seeded, **{"attr.region": "R1"}) == ["atm_t02_failed", "atm_t01"]
    both = {"attr.region": "R1", "attr.terminal_id": "T01"}
    assert await runs(seeded, **both) == ["atm_t01"]
    assert await runs(seeded, **{"attr.profile_id": "1", "status": "success"}) == [
        "profile_1_str", "profile_1_ok",
    ]  # fmt: skip
    assert await runs(seeded, **{"attr.profile_id": "3"}) == []


async def test_pages_walk_every_run_once(seeded: Seeded) -> None:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": "3"} if cursor is None else {"limit": "3", "cursor": cursor}
        body = await get(seeded.server, "v1/runs", **params)
        seen += names(seeded, body["items"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == NEWEST_FIRST
    assert pages == 4
    # Filters apply on every page.
    body = await get(seeded.server, "v1/runs", job="profile-maintenance", limit="3")
    rest = await get(
        seeded.server, "v1/runs", job="profile-maintenance", limit="3", cursor=body["next_cursor"]
    )
    assert names(seeded, body["items"] + rest["items"]) == NEWEST_FIRST[1:5]
    assert rest["next_cursor"] is None


async def test_pages_stay_stable_while_runs_arrive(empty: Served) -> None:
    server = empty
    first = [rid() for _ in range(6)]
    await send(
        server,
        *(
            run_event(run_id, job="import", started_at=f"2026-03-01T12:0{i}:00Z")
            for i, run_id in enumerate(first)
        ),
    )
    page1 = await get(server, "v1/runs", limit="2")
    assert [r["run_id"] for r in page1["items"]] == first[::-1][:2]
    # Newer runs arrive, and one more at the exact same start time as the page's last run.
    newer = [rid() for _ in range(3)]
    await send(
        server,
        *(run_event(r, job="import", started_at="2026-03-01T13:00:00Z") for r in newer),
        run_event(tie := rid(), job="import", started_at=page1["items"][-1]["started_at"]),
    )
    rest: list[str] = []
    cursor = page1["next_cursor"]
    while cursor is not None:
        body = await get(server, "v1/runs", limit="2", cursor=cursor)
        rest += [r["run_id"] for r in body["items"]]
        cursor = body["next_cursor"]
    # Nothing shown twice, nothing skipped; the new runs belong before page one.
    assert set(rest).isdisjoint(r["run_id"] for r in page1["items"])
    assert [r for r in rest if r != tie] == first[::-1][2:]
    assert not set(newer) & set(rest)


async def test_one_run(seeded: Seeded) -> None:
    run_id = seeded.runs["atm_t02_failed"]
    run = await get(seeded.server, f"v1/runs/{run_id}")
    assert run["run_id"] == run_id
    assert run["status"] == "failed"
    assert run["attrs"] == {"terminal_id": "T02", "region": "R1"}
    assert run["log_counts"]["error"] == 1 and run["log_counts"]["critical"] == 1
    assert run["duration_ms"] == 3 * 60_000
    # Any UUID spelling is accepted.
    assert (await get(seeded.server, f"v1/runs/{run_id.upper()}"))["run_id"] == run_id


async def test_an_unknown_run_is_404_and_a_bad_id_is_400(seeded: Seeded) -> None:
    problem = await get(seeded.server, f"v1/runs/{rid()}", 404)
    assert problem["status"] == 404
    await bad(seeded.server, "v1/runs/not-a-uuid", "run_id")
    await bad(seeded.server, "v1/runs/not-a-uuid/logs", "run_id")
    await get(seeded.server, f"v1/runs/{rid()}/logs", 404)


async def test_a_runs_logs_oldest_first(seeded: Seeded) -> None:
    path = f"v1/runs/{seeded.runs['sync_ok']}/logs"
    body = await get(seeded.server, path)
    assert [log["message"] for log in body["items"]] == [
        "Starting VAPI synchronization",
        "Fetched 120 calls",
        "Timeout after 5000 ms fetching page 7, retrying",
        "Saved 118 calls to 100% of tables",
        "Sync completed",
    ]
    assert body["next_cursor"] is None
    fetched = body["items"][1]
    assert fetched["level"] == "info" and fetched["levelno"] == 20
    assert fetched["step"] == "FETCH" and fetched["attrs"] == {"count": 120}
    assert fetched["run_id"] == seeded.runs["sync_ok"] and fetched["job"] == "vapi-sync"
    # A run with no logs has an empty list, not a 404.
    empty_run = await get(seeded.server, f"v1/runs/{seeded.runs['profile_1_ok']}/logs")
    assert empty_run == {"items": [], "next_cursor": None}


async def test_a_runs_logs_filtered_and_paged(seeded: Seeded) -> None:
    path = f"v1/runs/{seeded.runs['sync_ok']}/logs"

    async def messages(**params: Any) -> list[str]:
        return [log["message"] for log in (await get(seeded.server, path, **params))["items"]]

    assert await messages(min_level="warning") == [
        "Timeout after 5000 ms fetching page 7, retrying"
    ]
    assert len(await messages(min_level="success")) == 2
    assert await messages(step="FETCH") == [
        "Fetched 120 calls",
        "Timeout after 5000 ms fetching page 7, retrying",
    ]
    assert await messages(q="TIMEOUT") == ["Timeout after 5000 ms fetching page 7, retrying"]
    # q is text, not a pattern: % and _ match themselves.
    assert await messages(q="100%") == ["Saved 118 calls to 100% of tables"]
    assert await messages(q="_") == []
    page = await get(seeded.server, path, limit="2")
    second = await get(seeded.server, path, limit="2", cursor=page["next_cursor"])
    third = await get(seeded.server, path, limit="2", cursor=second["next_cursor"])
    assert len(page["items"]) == len(second["items"]) == 2 and len(third["items"]) == 1
    assert third["next_cursor"] is None
    await bad(seeded.server, path, "min_level", min_level="loud")
    await bad(seeded.server, path, "cursor", cursor=page["next_cursor"][:-3] + "xyz")


async def test_every_bad_parameter_is_a_400_naming_it(seeded: Seeded) -> None:
    server = seeded.server
    assert "1 to 1000" in await bad(server, "v1/runs", "limit", limit="0")
    await bad(server, "v1/runs", "limit", limit="1001")
    await bad(server, "v1/runs", "limit", limit="ten")
    await bad(server, "v1/runs", "since", since="yesterday")
    await bad(server, "v1/runs", "since", since="1e30")
    await bad(server, "v1/runs", "until", since="2h", until="3h")
    await bad(server, "v1/runs", "status", status="done")
    await bad(server, "v1/runs", "status", status="failed,")
    await bad(server, "v1/runs", "job", job="")
    await bad(server, "v1/runs", "stauts", stauts="failed")
    await bad(server, "v1/runs", "attr.", **{"attr.": "x"})
    await bad(server, "v1/runs", "cursor", cursor="not a cursor")
    logs_cursor = (await get(server, "v1/logs", limit="1"))["next_cursor"]
    await bad(server, "v1/runs", "cursor", cursor=logs_cursor)
    async with server.http.get("v1/runs?job=a&job=b", headers=READ) as answer:
        assert answer.status == 400
        assert (await answer.json(content_type=None))["parameter"] == "job"


async def test_reading_needs_the_read_scope(seeded: Seeded) -> None:
    async with seeded.server.http.get("v1/runs") as answer:
        assert answer.status == 401
    async with seeded.server.http.get("v1/runs", headers=INGEST_ONLY) as answer:
        assert answer.status == 403
        assert answer.content_type == "application/problem+json"
