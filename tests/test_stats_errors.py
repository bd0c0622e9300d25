"""GET /v1/stats/errors grouped by job and step, with failed-run counts and the job filter;
GET /v1/stats/errors/runs: the runs that had a group's error, each once, with their count."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import Served
from tests.pgcluster import ThrowawayCluster
from tests.read_helpers import bad, get, rid, send, served_database

DUPLICATE = {"type": "IntegrityError", "message": "duplicate key value violates unique constraint"}
#: The runs' own errors (the Runs view's error column): one longer than a line, one short.
RUN_ERRORS = {
    "dup": {
        "type": "IntegrityError",
        "message": 'duplicate key value violates unique constraint "orders_pkey" DETAIL: Key '
        "(id)=(4711) already exists.",
    },
    "slow": {"type": "TimeoutError", "message": "read timed out"},
}


@dataclass
class Known:
    server: Served
    runs: dict[str, str]


def known_events(now: datetime) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """etl: `dup` failed with 12 LOAD errors (3 h ago), `retried` succeeded after one LOAD
    and one EXTRACT error (2 h ago), `slow` timed out after two EXTRACT errors. mail: `bounce`
    failed with 3 LOAD errors (1 h ago), `nostep` failed with one error without a step. And a
    mail error line outside any run, step SEND."""
    runs = {name: rid() for name in ("dup", "retried", "slow", "bounce", "nostep")}
    statuses = {"dup": "failed", "retried": "success", "slow": "timed_out", "bounce": "failed",
                "nostep": "failed"}  # fmt: skip
    jobs = {"dup": "etl", "retried": "etl", "slow": "etl", "bounce": "mail", "nostep": "mail"}
    events: list[dict[str, Any]] = []
    for name, run_id in runs.items():
        started = now - timedelta(hours=4)
        events.append({"kind": "run", "run_id": run_id, "job": jobs[name],
                       "status": statuses[name], "started_at": started.isoformat(),
                       "finished_at": (started + timedelta(minutes=5)).isoformat()})  # fmt: skip
        if name in RUN_ERRORS:
            events[-1]["error"] = RUN_ERRORS[name]

    def error(name: str, at: datetime, step: str | None, message: str, **more: Any) -> None:
        line = {"run_id": runs[name], "job": jobs[name], "ts": at.isoformat(), "level": "error",
                "message": message, **more}  # fmt: skip
        if step is not None:
            line["step"] = step
        events.append(line)

    for i in range(12):
        error("dup", now - timedelta(hours=3, seconds=i), "LOAD", f"row {i}", error=DUPLICATE,
              attrs={"table": "orders"})  # fmt: skip
    error("retried", now - timedelta(hours=2), "LOAD", "deadlock detected")
    error("retried", now - timedelta(hours=2, minutes=1), "EXTRACT", "connection reset")
    error("slow", now - timedelta(hours=2, minutes=30), "EXTRACT", "read timeout")
    error("slow", now - timedelta(hours=2, minutes=31), "EXTRACT", "read timeout")
    for i in range(3):
        error("bounce", now - timedelta(hours=1, seconds=i), "LOAD", f"mailbox {i} full")
    error("nostep", now - timedelta(minutes=30), None, "SMTP refused")
    events.append({"job": "mail", "ts": (now - timedelta(minutes=10)).isoformat(),
                   "level": "error", "step": "SEND", "message": "queue full"})  # fmt: skip
    return runs, events


@pytest.fixture(scope="module")
async def known(pg_cluster: ThrowawayCluster) -> AsyncIterator[Known]:
    async with served_database(pg_cluster) as served:
        runs, events = known_events(datetime.now(UTC).replace(microsecond=0))
        await send(served, *events)
        yield Known(served, runs)


Row = tuple[Any, ...]


async def groups(known: Known, by: str, **params: str) -> list[dict[str, Any]]:
    body = await get(known.server, "v1/stats/errors", by=by, days="7", **params)
    assert body["by"] == by
    items: list[dict[str, Any]] = body["items"]
    return items


def counts(items: list[dict[str, Any]]) -> list[Row]:
    return [(i["key"], i["error_count"], i["affected_runs"], i["failed_runs"]) for i in items]


async def test_failed_runs_counts_the_groups_runs_that_failed_or_timed_out(known: Known) -> None:
    # LOAD: dup (failed), retried (success), bounce (failed); EXTRACT: retried, slow (timed
    # out). The SEND line belongs to no run: it is counted as before, never as failed.
    assert counts(await groups(known, "step")) == [
        ("LOAD", 16, 3, 2), ("EXTRACT", 3, 2, 1), ("SEND", 1, 1, 0), (None, 1, 1, 1),
    ]  # fmt: skip
    assert counts(await groups(known, "job")) == [("etl", 16, 3, 2), ("mail", 5, 3, 2)]
    by_fingerprint = await groups(known, "fingerprint")
    assert by_fingerprint[0]["error_count"] == 12
    assert by_fingerprint[0]["failed_runs"] == 1


async def test_errors_grouped_by_job_and_step_together(known: Known) -> None:
    items = await groups(known, "job,step")
    assert [(i["job"], *row) for i, row in zip(items, counts(items), strict=True)] == [
        ("etl", "LOAD", 13, 2, 1),
        ("etl", "EXTRACT", 3, 2, 1),
        ("mail", "LOAD", 3, 1, 1),
        ("mail", "SEND", 1, 1, 0),
        ("mail", None, 1, 1, 1),
    ]
    # Each pair's sample is a line of that job and that step.
    assert {(i["sample"]["job"], i["sample"]["step"]) for i in items} == {
        ("etl", "LOAD"), ("etl", "EXTRACT"), ("mail", "LOAD"), ("mail", "SEND"), ("mail", None),
    }  # fmt: skip
    assert items[0]["sample"]["message"] == "deadlock detected"  # the pair's newest line
    # The single groupings' items stay as they were: no job beside the key.
    assert all("job" not in item for item in await groups(known, "step"))


async def test_the_job_filter_works_with_every_grouping(known: Known) -> None:
    mail = await groups(known, "job,step", job="mail")
    assert [(i["job"], i["key"]) for i in mail] == [
        ("mail", "LOAD"),
        ("mail", "SEND"),
        ("mail", None),
    ]
    assert counts(await groups(known, "step", job="etl")) == [
        ("LOAD", 13, 2, 1),
        ("EXTRACT", 3, 2, 1),
    ]
    assert counts(await groups(known, "job", job="etl")) == [("etl", 16, 3, 2)]
    assert next(i["error_count"] for i in await groups(known, "fingerprint", job="etl")) == 12
    assert all(i["sample"]["job"] == "mail" for i in await groups(known, "fingerprint", job="mail"))
    assert await groups(known, "job,step", job="nobody") == []


async def error_runs(known: Known, **params: str) -> list[Row]:
    body = await get(known.server, "v1/stats/errors/runs", days="7", **params)
    names = {run_id: name for name, run_id in known.runs.items()}
    return [(names[i["run_id"]], i["status"], i["error_count"]) for i in body["items"]]


async def test_each_run_with_the_error_is_listed_once_newest_first_with_its_count(
    known: Known,
) -> None:
    # dup has 12 LOAD lines: listed once, with 12.
    assert await error_runs(known, by="step", key="LOAD") == [
        ("bounce", "failed", 3), ("retried", "success", 1), ("dup", "failed", 12),
    ]  # fmt: skip
    assert await error_runs(known, by="job,step", job="etl", key="LOAD") == [
        ("retried", "success", 1), ("dup", "failed", 12),
    ]  # fmt: skip
    assert await error_runs(known, by="step", key="LOAD", job="mail") == [("bounce", "failed", 3)]
    assert await error_runs(known, by="job", key="etl", limit="2") == [
        ("retried", "success", 2), ("slow", "timed_out", 2),
    ]  # fmt: skip
    # Without key=: the group without one. A line outside any run has no run to list.
    assert await error_runs(known, by="step") == [("nostep", "failed", 1)]
    assert await error_runs(known, by="step", key="SEND") == []
    fingerprint = (await groups(known, "fingerprint"))[0]["key"]
    assert await error_runs(known, by="fingerprint", key=fingerprint) == [("dup", "failed", 12)]
    assert await error_runs(known, by="attr.table", key="orders") == [("dup", "failed", 12)]


async def test_a_listed_run_says_its_job_start_and_latest_error(known: Known) -> None:
    body = await get(known.server, "v1/stats/errors/runs", by="step", key="LOAD", limit="1")
    assert (body["by"], body["key"], body["job"], body["next_cursor"]) == (
        "step",
        "LOAD",
        None,
        None,
    )
    [item] = body["items"]
    assert item["run_id"] == known.runs["bounce"]
    assert (item["job"], item["status"], item["error_count"]) == ("mail", "failed", 3)
    assert datetime.fromisoformat(item["started_at"]) < datetime.fromisoformat(item["last_seen"])


async def test_bad_parameters_of_the_error_runs_are_400s_naming_them(known: Known) -> None:
    path = "v1/stats/errors/runs"
    detail = await bad(known.server, path, "job", by="job,step", key="LOAD")
    assert "job,step" in detail
    await bad(known.server, path, "key", by="step", key="")
    await bad(known.server, path, "key", by="step", key="x" * 201)
    await bad(known.server, path, "by", by="phase", key="LOAD")
    await bad(known.server, path, "by", by="step,job", key="LOAD")
    await bad(known.server, path, "limit", by="step", key="LOAD", limit="0")
    await bad(known.server, path, "limit", by="step", key="LOAD", limit="101")
    await bad(known.server, path, "days", by="step", key="LOAD", days="0")
    await bad(known.server, path, "color", by="step", key="LOAD", color="red")
    await bad(known.server, "v1/stats/errors", "by", by="job,step,fingerprint")
