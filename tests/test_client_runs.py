"""Runs from the client: lifecycle, steps, progress, counters, results, failures,
decorator and async forms, heartbeats."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from ingestd_client import IngestClient, current_run

from tests.client_support import FaultProxy, make_client, wait_until
from tests.conftest import IngestdProcess


@pytest.fixture
def client(ingestd: Any, tmp_path: Path) -> Any:
    c = make_client(ingestd.url, ingestd.ingest_token, tmp_path / "spool", wait_for_commit=True)
    yield c
    c.close()


def run_row(ingestd: IngestdProcess, run_id: str) -> dict[str, Any]:
    [row] = ingestd.query(
        "SELECT job, status, trigger, progress, step, counters::text AS counters, "
        "result::text AS result, error::text AS error, attrs::text AS attrs, "
        "finished_at, duration_ms FROM runs WHERE run_id = $1",
        uuid.UUID(run_id),
    )
    for key in ("counters", "result", "error", "attrs"):
        row[key] = json.loads(row[key]) if row[key] is not None else None
    return row


def run_logs(ingestd: IngestdProcess, run_id: str) -> list[dict[str, Any]]:
    return ingestd.query(
        "SELECT levelno, step, message, attrs::text AS attrs, error::text AS error "
        "FROM logs WHERE run_id = $1 ORDER BY ts, id",
        uuid.UUID(run_id),
    )


def test_a_successful_run_records_steps_progress_counters_and_result(
    ingestd: Any, client: IngestClient
) -> None:
    with client.run("vapi-sync", trigger="cron", attrs={"region": "eu"}) as run:
        assert current_run() is run
        run.step("FETCH")
        run.log.info("fetched %d calls", 100, extra={"page": 1})
        run.count(records_fetched=60, api_cost=0.25)
        run.progress(40)
        assert client.flush(10)  # the counters so far reach ingestd ...
        run.count(records_fetched=40, api_cost=0.5)  # ... and are then replaced by totals
        run.step("SAVE")
        client.log("saved")
        run.set_counters(records_inserted=100)
        run.result({"calls": 100})
    assert current_run() is None
    assert client.flush(10)
    row = run_row(ingestd, run.run_id)
    assert row["job"] == "vapi-sync" and row["status"] == "success"
    assert row["trigger"] == "cron"
    assert row["attrs"] == {"region": "eu"}
    assert row["counters"] == {"records_fetched": 100, "api_cost": 0.75, "records_inserted": 100}
    assert row["result"] == {"calls": 100}
    assert row["progress"] == 100 and row["step"] == "SAVE"
    assert row["finished_at"] is not None and row["duration_ms"] >= 0
    logs = run_logs(ingestd, run.run_id)
    assert [(r["step"], r["message"]) for r in logs] == [
        ("FETCH", "fetched 100 calls"),
        ("SAVE", "saved"),
    ]
    assert json.loads(logs[0]["attrs"]) == {"page": 1}


def test_a_runs_lines_are_numbered_from_zero_however_they_are_logged(
    ingestd: Any, client: IngestClient
) -> None:
    import logging

    logger = logging.getLogger("test-seq")
    handler = client.handler()
    logger.addHandler(handler)
    try:
        with client.run("numbered") as run:
            run.log.info("through the run's logger")
            client.log("through the client")
            logger.warning("through a handler, in the run")
            with client.run("numbered") as other:
                client.log("the other run's first")
        client.log("outside the run", job="numbered")
    finally:
        logger.removeHandler(handler)
    assert client.flush(10)
    seqs = {
        r["message"]: (str(r["run_id"]), r["seq"])
        for r in ingestd.query("SELECT run_id, message, seq FROM logs WHERE job = 'numbered'")
    }
    assert seqs["through the run's logger"] == (run.run_id, 0)
    assert seqs["through the client"] == (run.run_id, 1)
    assert seqs["through a handler, in the run"] == (run.run_id, 2)
    assert seqs["outside the run"][1] is None
    assert seqs["the other run's first"] == (other.run_id, 0)


def test_a_runs_finish_says_how_many_lines_it_numbered_so_a_lost_tail_shows(
    ingestd: Any, client: IngestClient
) -> None:
    with client.run("tail") as run:
        for n in range(3):
            run.log.info("line %d", n)
        run.next_seq(), run.next_seq()  # two more lines numbered, lost before the queue
    client.log("after the finish", run=run)  # outside the count: not numbered
    assert client.flush(10)
    [row] = ingestd.query(
        "SELECT seq_max, seq_count FROM runs WHERE run_id = $1", uuid.UUID(run.run_id)
    )
    assert (row["seq_max"], row["seq_count"]) == (4, 3)  # 5 lines, 3 arrived
    [late] = ingestd.query("SELECT seq FROM logs WHERE message = 'after the finish'")
    assert late["seq"] is None


def test_run_warning_ends_the_run_with_status_warning(ingestd: Any, client: IngestClient) -> None:
    with client.run("profile-maintenance", attrs={"profile_id": 3}) as run:
        run.warning("headline too long, truncated", field="headline")
    assert client.flush(10)
    assert run_row(ingestd, run.run_id)["status"] == "warning"
    [log] = run_logs(ingestd, run.run_id)
    assert log["levelno"] == 30 and json.loads(log["attrs"]) == {"field": "headline"}


def test_an_exception_marks_the_run_failed_and_is_reraised(
    ingestd: Any, client: IngestClient
) -> None:
    with pytest.raises(ConnectionError, match="vendor down"), client.run("atm-retrieval") as run:
        run.step("AUTH")
        raise ConnectionError("vendor down")
    assert client.flush(10)
    row = run_row(ingestd, run.run_id)
    assert row["status"] == "failed"
    assert row["error"]["type"] == "ConnectionError"
    assert row["error"]["message"] == "vendor down"
    assert 'raise ConnectionError("vendor down")' in row["error"]["stack"]
    [log] = run_logs(ingestd, run.run_id)
    assert log["levelno"] == 40 and log["step"] == "AUTH"
    assert json.loads(log["error"])["type"] == "ConnectionError"


def test_run_fail_marks_the_run_failed_without_raising(ingestd: Any, client: IngestClient) -> None:
    with client.run("profile-maintenance") as run:
        run.fail("login failed: invalid credentials")
    assert client.flush(10)
    row = run_row(ingestd, run.run_id)
    assert row["status"] == "failed"
    assert row["error"]["message"] == "login failed: invalid credentials"


def test_a_step_used_as_a_context_manager_restores_the_step_before_it(
    ingestd: Any, client: IngestClient
) -> None:
    with client.run("file-import") as run:
        with run.step("PARSE"):
            client.log("parsing")
        client.log("between the blocks")  # no step before PARSE: none after it
        run.step("LOAD")
        with run.step("INDEX"):
            client.log("indexing")
        client.log("loading again")
    assert client.flush(10)
    assert [(r["step"], r["message"]) for r in run_logs(ingestd, run.run_id)] == [
        ("PARSE", "parsing"),
        (None, "between the blocks"),
        ("INDEX", "indexing"),
        ("LOAD", "loading again"),
    ]


def test_the_job_decorator_makes_each_call_a_run(ingestd: Any, client: IngestClient) -> None:
    seen: list[str] = []

    @client.job("nightly-import", trigger="cron")
    def nightly(n: int) -> int:
        run = current_run()
        assert run is not None
        seen.append(run.run_id)
        run.count(rows=n)
        return n * 2

    assert nightly(3) == 6
    assert nightly(4) == 8
    assert client.flush(10)
    assert [run_row(ingestd, r)["counters"] for r in seen] == [{"rows": 3}, {"rows": 4}]
    assert {run_row(ingestd, r)["status"] for r in seen} == {"success"}


async def test_async_forms_tie_each_tasks_logs_to_its_own_run(
    ingestd: Any, client: IngestClient
) -> None:
    @client.job("async-job")
    async def decorated() -> str:
        await asyncio.sleep(0)
        run = current_run()
        assert run is not None
        client.log("from the decorated coroutine")
        return run.run_id

    async def one(name: str) -> str:
        async with client.run("async-job", attrs={"name": name}) as run:
            for i in range(3):
                client.log(f"{name} {i}")
                await asyncio.sleep(0.01)
            return run.run_id

    ids = await asyncio.gather(one("a"), one("b"), decorated())
    assert await asyncio.to_thread(client.flush, 10)
    assert [r["message"] for r in run_logs(ingestd, ids[0])] == ["a 0", "a 1", "a 2"]
    assert [r["message"] for r in run_logs(ingestd, ids[1])] == ["b 0", "b 1", "b 2"]
    assert [r["message"] for r in run_logs(ingestd, ids[2])] == ["from the decorated coroutine"]
    with pytest.raises(RuntimeError):
        async with client.run("async-job") as failing:
            raise RuntimeError("async failure")
    assert await asyncio.to_thread(client.flush, 10)
    assert run_row(ingestd, failing.run_id)["status"] == "failed"


def test_an_open_run_sends_heartbeats(ingestd: Any, tmp_path: Path) -> None:
    proxy = FaultProxy(ingestd.url)
    client = make_client(
        proxy.url,
        ingestd.ingest_token,
        tmp_path / "spool",
        heartbeat_interval=0.2,
        flush_interval=0.05,
    )
    try:
        with client.run("long-backup") as run:

            def beats() -> int:
                return sum(
                    1
                    for p in proxy.posts()
                    for e in p.events()
                    if e.get("kind") == "run" and set(e) == {"kind", "run_id", "job", "ts"}
                )

            wait_until(lambda: beats() >= 3, what="three heartbeats")
        assert client.flush(10)
    finally:
        client.close()
        proxy.close()
    wait_until(lambda: run_row(ingestd, run.run_id)["status"] == "success", what="the finish")
