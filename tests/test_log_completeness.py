"""Log completeness per run (seq): out of order, replays counted once, a gap filled late,
the run API's field and the count in /v1/stats/summary."""

from __future__ import annotations

from typing import Any

from tests import read_helpers
from tests.conftest import Served
from tests.read_helpers import get, rid, run_event, send

empty = read_helpers.empty


def line(run_id: str, seq: int) -> dict[str, Any]:
    # As the client sends them: each line has an event id, so a replay is stored once.
    return {"message": f"line {seq}", "run_id": run_id, "job": "seqd", "seq": seq,
            "event_id": f"s-{seq}"}  # fmt: skip


async def completeness(server: Served, run_id: str) -> dict[str, Any]:
    run = await get(server, f"v1/runs/{run_id}")
    return dict(run["log_completeness"])


async def missing_runs(server: Served) -> int:
    return int((await get(server, "v1/stats/summary", fresh=True))["runs_missing_logs"])


async def test_lines_out_of_order_and_a_replayed_batch_are_complete(empty: Served) -> None:
    run_id = rid()
    await send(empty, run_event(run_id, job="seqd", status="running"))
    await send(empty, line(run_id, 2), line(run_id, 0))
    await send(empty, line(run_id, 1), line(run_id, 3))
    assert await completeness(empty, run_id) == {
        "state": "receiving", "received": 4, "expected": 4, "missing": 0, "gaps": [],
    }  # fmt: skip
    await send(empty, line(run_id, 1), line(run_id, 3))  # the same batch again: counted once
    await send(empty, run_event(run_id, status="success"))
    assert await completeness(empty, run_id) == {
        "state": "complete", "received": 4, "expected": 4, "missing": 0, "gaps": [],
    }  # fmt: skip
    assert await missing_runs(empty) == 0


async def test_a_gap_is_reported_then_filled_by_a_late_replay(empty: Served) -> None:
    run_id = rid()
    await send(empty, run_event(run_id, job="seqd", status="running"))
    await send(empty, *(line(run_id, n) for n in (0, 1, 5, 6, 9)))
    await send(empty, run_event(run_id, status="failed"))
    assert await completeness(empty, run_id) == {
        "state": "missing", "received": 5, "expected": 10, "missing": 5,
        "gaps": [[2, 4], [7, 8]],
    }  # fmt: skip
    listed = (await get(empty, "v1/runs"))["items"][0]["log_completeness"]
    assert listed == {"state": "missing", "received": 5, "expected": 10, "missing": 5, "gaps": None}
    assert await missing_runs(empty) == 1
    # What changed since the last success says so first thing after the errors.
    compared = await get(empty, f"v1/runs/{run_id}/compare")
    assert compared["log_completeness"]["gaps"] == [[2, 4], [7, 8]]
    assert compared["summary"][0] == "5 of 10 log lines missing (seq 2\u20134, 7\u20138)"
    # The client's spool replays what it could not send, after the run's end, and part of it
    # twice: the gap closes, nothing counts twice.
    await send(empty, *(line(run_id, n) for n in (2, 3, 4, 7)))
    await send(empty, line(run_id, 3), line(run_id, 8), line(run_id, 7))
    assert await completeness(empty, run_id) == {
        "state": "complete", "received": 10, "expected": 10, "missing": 0, "gaps": [],
    }  # fmt: skip
    assert await missing_runs(empty) == 0
    compared = await get(empty, f"v1/runs/{run_id}/compare")
    assert compared["log_completeness"]["state"] == "complete"
    assert not any("missing" in text for text in compared["summary"])


async def test_a_gap_at_the_start_and_runs_without_seq(empty: Served) -> None:
    numbered, plain = rid(), rid()
    await send(empty, run_event(numbered, job="seqd", status="success"), line(numbered, 3))
    await send(empty, run_event(plain, job="seqd", status="success"),
               {"message": "no number", "run_id": plain})  # fmt: skip
    assert (await completeness(empty, numbered))["gaps"] == [[0, 2]]
    assert await completeness(empty, plain) == {
        "state": "unknown", "received": 0, "expected": None, "missing": None, "gaps": None,
    }  # fmt: skip


async def test_repeated_numbers_without_event_ids_are_sorted_out_from_the_logs(
    empty: Served,
) -> None:
    run_id = rid()
    bare = [{"message": "m", "run_id": run_id, "job": "seqd", "seq": n} for n in (0, 1, 1)]
    await send(empty, run_event(run_id, job="seqd", status="success"), *bare)
    listed = (await get(empty, "v1/runs"))["items"][0]["log_completeness"]
    assert listed["state"] == "unknown"  # 3 counted for 2 numbers: only the logs can tell
    assert await completeness(empty, run_id) == {
        "state": "complete", "received": 2, "expected": 2, "missing": 0, "gaps": [],
    }  # fmt: skip


async def test_a_bad_seq_is_refused_and_its_neighbours_kept(empty: Served) -> None:
    run_id = rid()
    events = [line(run_id, 0), {**line(run_id, 1), "seq": -1}, {**line(run_id, 2), "seq": "2"},
              {**line(run_id, 3), "seq": 2**31 - 1}, {**line(run_id, 4), "seq": True}]  # fmt: skip
    async with empty.http.post(
        "v1/events", json=events, headers=read_helpers.INGEST_ONLY
    ) as answer:
        body = await answer.json()
    assert answer.status == 202
    assert [r["index"] for r in body["rejected"]] == [1, 2, 3, 4]
    assert all("seq must be a whole number" in r["error"] for r in body["rejected"])
    assert body["accepted"] == 1


async def test_lines_lost_at_the_end_read_as_missing_when_the_finish_counts_them(
    empty: Served,
) -> None:
    run_id = rid()
    await send(empty, run_event(run_id, job="seqd", status="running"))
    await send(empty, *(line(run_id, n) for n in range(97)))  # 98, 99 and 100 never came
    await send(empty, run_event(run_id, status="success", log_lines=100))
    assert await completeness(empty, run_id) == {
        "state": "missing", "received": 97, "expected": 100, "missing": 3, "gaps": [[97, 99]],
    }  # fmt: skip
    assert await missing_runs(empty) == 1
    # The finish replayed from a spool, then the lost lines: counted once, the run complete.
    await send(empty, run_event(run_id, status="success", log_lines=100))
    await send(empty, *(line(run_id, n) for n in (97, 98, 99)))
    assert (await completeness(empty, run_id))["state"] == "complete"
    assert await missing_runs(empty) == 0


async def test_a_finish_counting_no_lines_or_lines_none_of_which_came(empty: Served) -> None:
    silent, lost = rid(), rid()
    await send(empty, run_event(silent, job="seqd", status="success", log_lines=0))
    await send(empty, run_event(lost, job="seqd", status="failed", log_lines=5))
    assert await completeness(empty, silent) == {
        "state": "complete", "received": 0, "expected": 0, "missing": 0, "gaps": [],
    }  # fmt: skip
    assert await completeness(empty, lost) == {
        "state": "missing", "received": 0, "expected": 5, "missing": 5, "gaps": [[0, 4]],
    }  # fmt: skip


async def test_the_rest_finish_takes_log_lines_and_refuses_a_bad_one(empty: Served) -> None:
    run_id = rid()
    await send(empty, run_event(run_id, job="seqd", status="running"), line(run_id, 0))
    for bad_value in (-1, "3", 2**31, True, 1.5):
        async with empty.http.post(
            f"v1/runs/{run_id}/finish",
            json={"status": "success", "log_lines": bad_value},
            headers=read_helpers.INGEST_ONLY,
        ) as answer:
            assert answer.status == 400, bad_value
            assert answer.content_type == "application/problem+json"
            assert "log_lines" in (await answer.json())["detail"]
    async with empty.http.post(
        f"v1/runs/{run_id}/finish",
        json={"status": "success", "log_lines": 2},
        headers=read_helpers.INGEST_ONLY,
    ) as answer:
        assert answer.status == 200, await answer.text()
    assert (await completeness(empty, run_id))["gaps"] == [[1, 1]]


async def test_a_lines_seq_is_shown_in_the_logs_of_the_run_and_in_all_logs(empty: Served) -> None:
    run_id = rid()
    await send(empty, line(run_id, 1), line(run_id, 0), {"message": "plain", "run_id": run_id})
    run_logs = (await get(empty, f"v1/runs/{run_id}/logs"))["items"]
    assert {log["message"]: log["seq"] for log in run_logs} == {
        "line 1": 1, "line 0": 0, "plain": None,
    }  # fmt: skip
    logs = (await get(empty, "v1/logs", run_id=run_id))["items"]
    assert sorted((log["seq"] is None, log["seq"]) for log in logs) == [
        (False, 0), (False, 1), (True, None),
    ]  # fmt: skip


async def test_the_largest_seq_is_stored_and_its_run_still_answers(empty: Served) -> None:
    # The lines a run expects (its highest seq + 1) must fit PostgreSQL's integer: 2**31 - 1
    # as a seq made the writer refuse the runs row and the run's answers a 500.
    run_id, top = rid(), 2**31 - 2
    await send(empty, run_event(run_id, job="seqd", status="running"), line(run_id, top))
    await send(empty, run_event(run_id, status="success", log_lines=top + 1))
    assert await completeness(empty, run_id) == {
        "state": "missing", "received": 1, "expected": top + 1, "missing": top,
        "gaps": [[0, top - 1]],
    }  # fmt: skip
    compared = await get(empty, f"v1/runs/{run_id}/compare")
    assert (
        compared["summary"][0] == f"{top:,} of {top + 1:,} log lines missing (seq 0\u2013{top - 1})"
    )
