"""Runs: merged from events in any order, and as REST (POST/PATCH/finish)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from tests.conftest import Served


async def send(server: Served, *events: dict[str, Any]) -> None:
    """Send events one request each, in order, and wait until committed."""
    for event in events:
        async with server.http.post("v1/events", data=orjson.dumps(event)) as answer:
            assert answer.status == 202, await answer.text()
    await server.flush()


async def send_in_one_batch(server: Served, *events: dict[str, Any]) -> None:
    """Send events as one NDJSON request (one batch for the writer), answered once committed."""
    body = b"\n".join(orjson.dumps(event) for event in events)
    async with server.http.post(
        "v1/events?wait=commit", data=body, headers={"Content-Type": "application/x-ndjson"}
    ) as answer:
        assert answer.status == 200, await answer.text()


async def get_run(server: Served, run_id: str) -> dict[str, Any]:
    row = await server.db.fetchrow(
        "SELECT *, counters::text AS c, attrs::text AS a FROM runs WHERE run_id = $1", run_id
    )
    assert row is not None
    return dict(row)


def rid() -> str:
    return str(uuid.uuid4())


def run_event(run_id: str, **fields: Any) -> dict[str, Any]:
    return {"kind": "run", "run_id": run_id, **fields}


async def test_a_run_from_start_to_finish(server: Served) -> None:
    run_id = rid()
    await send(
        server,
        {
            "kind": "run",
            "run_id": run_id,
            "job": "import",
            "status": "running",
            "started_at": "2026-01-01T00:00:00Z",
            "trigger": "cron",
            "attrs": {"file": "a.csv"},
        },
        {
            "kind": "run",
            "run_id": run_id,
            "progress": 40,
            "step": "PARSE",
            "counters": {"rows": 10, "bad": 1},
        },
        {"message": "parsed", "run_id": run_id, "step": "PARSE"},
        {"kind": "run", "run_id": run_id, "counters": {"rows": 25}, "attrs": {"size": 9}},
        {
            "kind": "run",
            "run_id": run_id,
            "status": "completed",
            "finished_at": "2026-01-01T00:01:30Z",
            "result": {"created": 24},
        },
    )
    run = await get_run(server, run_id)
    assert run["job"] == "import"
    assert run["status"] == "success"
    assert run["trigger"] == "cron"
    assert run["step"] == "PARSE"
    assert run["progress"] == 40
    assert orjson.loads(run["c"]) == {"rows": 25, "bad": 1}
    assert orjson.loads(run["a"]) == {"file": "a.csv", "size": 9}
    assert run["duration_ms"] == 90_000
    assert run["n_info"] == 1


async def test_finish_before_start_still_ends_finished(server: Served) -> None:
    run_id = rid()
    await send(
        server,
        {
            "kind": "run",
            "run_id": run_id,
            "job": "j",
            "status": "failed",
            "finished_at": "2026-01-01T00:00:10Z",
            "error": {"type": "IOError", "message": "x"},
        },
        {
            "kind": "run",
            "run_id": run_id,
            "status": "running",
            "started_at": "2026-01-01T00:00:00Z",
        },
    )
    run = await get_run(server, run_id)
    assert run["status"] == "failed"
    assert run["duration_ms"] == 10_000
    assert run["error"] == '{"type": "IOError", "message": "x"}'


async def test_events_in_one_batch_apply_in_the_order_received(server: Served) -> None:
    run_id = rid()
    await send_in_one_batch(
        server,
        {"kind": "run", "run_id": run_id, "job": "j", "step": "A", "progress": 10},
        {"kind": "run", "run_id": run_id, "step": "B", "status": "success"},
        {"kind": "run", "run_id": run_id, "step": "C", "status": "running"},
    )
    run = await get_run(server, run_id)
    assert (run["step"], run["status"]) == ("C", "success")
    assert run["finished_at"] is not None


async def test_a_final_status_gets_finished_at_when_not_given(server: Served) -> None:
    run_id = rid()
    before = datetime.now(UTC)
    await send(
        server,
        {"kind": "run", "run_id": run_id, "job": "j", "status": "running"},
        {"kind": "run", "run_id": run_id, "status": "timed_out"},
    )
    run = await get_run(server, run_id)
    assert run["status"] == "timed_out"
    assert run["finished_at"] >= before
    assert run["duration_ms"] >= 0


# The monitor judges a run from a read of the active runs, then queues its verdict; the run's
# own final status may commit in between (from this replica's queue or another's). The
# verdict then comes too late, and must not turn a finished run into a timed-out one.
def verdict(run_id: str) -> dict[str, Any]:
    return run_event(
        run_id,
        status="timed_out",
        finished_at="2026-01-01T02:00:00Z",
        error={"type": "TimedOut", "message": "ran longer than 1h"},
        attrs={"timed_out": "max_duration"},
    )


def started(run_id: str) -> dict[str, Any]:
    return run_event(run_id, job="j", status="running", started_at="2026-01-01T00:00:00Z")


def succeeded(run_id: str) -> dict[str, Any]:
    return run_event(run_id, status="success", finished_at="2026-01-01T01:30:00Z")


async def test_a_timed_out_verdict_does_not_replace_a_final_status(server: Served) -> None:
    committed_first, same_batch = rid(), rid()
    await send(server, started(committed_first), succeeded(committed_first))
    await send(server, verdict(committed_first))
    await send_in_one_batch(server, started(same_batch), succeeded(same_batch), verdict(same_batch))
    for run_id in (committed_first, same_batch):
        run = await get_run(server, run_id)
        assert (run["status"], run["error"], run["duration_ms"]) == ("success", None, 5_400_000)
        # What the monitor saw stays on record: the run did go past its max_duration.
        assert orjson.loads(run["a"]) == {"timed_out": "max_duration"}


async def test_a_run_that_ends_after_being_timed_out_takes_its_own_end(server: Served) -> None:
    later, same_batch = rid(), rid()
    ended_by_ts = run_event(later, status="success", ts="2026-01-01T01:30:00Z")
    await send(server, started(later), verdict(later), ended_by_ts)
    await send_in_one_batch(server, started(same_batch), verdict(same_batch), succeeded(same_batch))
    for run_id in (later, same_batch):
        run = await get_run(server, run_id)
        assert (run["status"], run["error"], run["duration_ms"]) == ("success", None, 5_400_000)


async def test_a_log_naming_an_unknown_run_creates_it(server: Served) -> None:
    run_id = rid()
    await send(
        server,
        {
            "message": "early",
            "run_id": run_id,
            "job": "sync",
            "level": "error",
            "ts": "2026-02-01T10:00:00Z",
        },
    )
    run = await get_run(server, run_id)
    assert (run["job"], run["status"]) == ("sync", "running")
    assert run["started_at"] == datetime(2026, 2, 1, 10, tzinfo=UTC)
    assert run["n_error"] == 1


async def test_logs_before_their_run_get_its_job_once_known(server: Served) -> None:
    run_id = rid()
    await send(
        server,
        {"message": "orphan for now", "run_id": run_id},
        {"kind": "run", "run_id": run_id, "job": "late-job", "status": "running"},
        {"message": "after", "run_id": run_id},
    )
    jobs = await server.db.fetch("SELECT job FROM logs WHERE run_id = $1 ORDER BY id", run_id)
    assert [r["job"] for r in jobs] == ["late-job", "late-job"]
    assert (await get_run(server, run_id))["job"] == "late-job"


async def test_log_counts_per_level_add_up_without_scanning_logs(server: Served) -> None:
    run_id = rid()
    levels = ["info", "info", "warning", "error", "critical", "debug", 15, "success", "trace"]
    await send(server, *({"message": "m", "run_id": run_id, "level": lv} for lv in levels))
    run = await get_run(server, run_id)
    counts = {
        k: run[f"n_{k}"]
        for k in ("trace", "debug", "info", "success", "warning", "error", "critical")
    }
    assert counts == {
        "trace": 1,
        "debug": 2,
        "info": 2,
        "success": 1,
        "warning": 1,
        "error": 1,
        "critical": 1,
    }


async def test_logs_outside_runs_create_no_run(server: Served) -> None:
    await send(server, {"message": "loose", "job": "cron-x"})
    assert await server.db.fetchval("SELECT count(*) FROM runs") == 0
    assert await server.db.fetchval("SELECT count(*) FROM logs") == 1


# --- REST ---------------------------------------------------------------------------------


async def call(server: Served, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else orjson.dumps(body)
    async with server.http.request(method, path, data=data) as answer:
        return answer.status, await answer.json(content_type=None)


async def test_rest_create_patch_finish(server: Served) -> None:
    status, run = await call(
        server, "POST", "v1/runs", {"job": "backup", "trigger": "manual", "attrs": {"host": "db1"}}
    )
    assert status == 201
    assert (run["job"], run["status"], run["trigger"]) == ("backup", "running", "manual")
    uuid.UUID(run["run_id"])
    run_id = run["run_id"]
    status, run = await call(
        server,
        "PATCH",
        f"v1/runs/{run_id}",
        {"progress": 50, "step": "COPY", "counters": {"files": 3}},
    )
    assert status == 200
    assert (run["progress"], run["step"], run["counters"]) == (50, "COPY", {"files": 3})
    status, run = await call(
        server, "POST", f"v1/runs/{run_id}/finish", {"status": "ok", "result": {"bytes": 1024}}
    )
    assert status == 200
    assert run["status"] == "success"
    assert run["result"] == {"bytes": 1024}
    assert run["finished_at"] is not None
    assert run["duration_ms"] >= 0
    assert set(run["log_counts"]) == {
        "trace",
        "debug",
        "info",
        "success",
        "warning",
        "error",
        "critical",
    }


async def test_rest_patch_with_empty_body_is_a_heartbeat(server: Served) -> None:
    _, run = await call(server, "POST", "v1/runs", {"job": "j"})
    before = run["last_event_at"]
    async with server.http.patch(f"v1/runs/{run['run_id']}") as answer:
        assert answer.status == 200
        assert (await answer.json())["last_event_at"] > before


async def test_rest_errors_are_precise(server: Served) -> None:
    status, problem = await call(server, "POST", "v1/runs", {"trigger": "x"})
    assert status == 400
    assert "job is required" in problem["detail"]
    status, problem = await call(server, "PATCH", f"v1/runs/{rid()}", {"progress": 5})
    assert status == 404
    status, problem = await call(server, "PATCH", "v1/runs/not-a-uuid", {"progress": 5})
    assert (status, problem["parameter"]) == (400, "run_id")
    _, run = await call(server, "POST", "v1/runs", {"job": "j"})
    status, problem = await call(server, "POST", f"v1/runs/{run['run_id']}/finish", {})
    assert status == 400
    assert "status is required" in problem["detail"]
    status, problem = await call(server, "PATCH", f"v1/runs/{run['run_id']}", {"job": "other"})
    assert status == 400
    assert "unknown field(s) job" in problem["detail"]
    status, problem = await call(server, "PATCH", f"v1/runs/{run['run_id']}", [1])
    assert status == 400


async def test_rest_sees_runs_created_by_events_still_queued(server: Served) -> None:
    run_id = rid()
    async with server.http.post(
        "v1/events", data=orjson.dumps({"kind": "run", "run_id": run_id, "job": "q"})
    ) as answer:
        assert answer.status == 202
    status, run = await call(server, "PATCH", f"v1/runs/{run_id}", {"progress": 1})
    assert (status, run["job"]) == (200, "q")
