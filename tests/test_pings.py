"""Pings: /ping/{job}[/start|/fail|/log|/{exit_code}], for cron lines and shell scripts."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from ingestd.http.auth import parse_tokens
from tests.conftest import TOKENS_TEXT, Served
from tests.monitor_helpers import served
from tests.pgcluster import ThrowawayCluster


@pytest.fixture(scope="module")
async def server(pg_cluster: ThrowawayCluster) -> AsyncIterator[Served]:
    """One open ingestd for the module: each test pings jobs of its own."""
    async with served(pg_cluster) as shared:
        yield shared


async def ping(
    server: Served, path: str, body: bytes | None = None, key: str | None = None, **params: str
) -> str:
    method = server.http.post if body is not None else server.http.get
    headers = {} if key is None else {"Idempotency-Key": key}
    async with method(f"ping/{path}", data=body, params=params, headers=headers) as answer:
        assert answer.status == 200, await answer.text()
        assert answer.content_type == "text/plain"
        return (await answer.text()).removesuffix("\n")


async def run_row(server: Served, run_id: str) -> dict[str, Any]:
    row = await server.db.fetchrow(
        "SELECT *, result::text AS result_text FROM runs WHERE run_id = $1", run_id
    )
    assert row is not None
    return dict(row)


async def log_messages(server: Served, run_id: str) -> list[str]:
    rows = await server.db.fetch(
        "SELECT message FROM logs WHERE run_id = $1 ORDER BY ts, id", run_id
    )
    return [r["message"] for r in rows]


@pytest.mark.parametrize(
    ("command", "status", "code"), [("false", "failed", 1), ("true", "success", 0)]
)
async def test_a_cron_line_with_curl_records_a_run_with_the_right_status(
    server_factory: Callable[..., Awaitable[Served]], command: str, status: str, code: int
) -> None:
    server = await server_factory(tokens=parse_tokens(TOKENS_TEXT))
    line = f'{command}; curl -fsS "$URL/ping/backup/$??token=ingest-token"'
    shell = await asyncio.create_subprocess_exec(
        "sh",
        "-c",
        line,
        env={**os.environ, "URL": server.url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(10):
        out, err = await shell.communicate()
    assert shell.returncode == 0, err
    run = await run_row(server, str(uuid.UUID(out.decode().strip())))
    assert run["job"] == "backup"
    assert run["status"] == status
    assert run["result_text"] == f'{{"exit_code": {code}}}'
    assert run["trigger"] == "ping"
    assert run["started_at"] == run["finished_at"]  # nothing was running: an instant run


async def test_the_run_id_is_answered_as_one_line_of_text(server: Served) -> None:
    async with server.http.get("ping/liner/start") as answer:
        text = await answer.text()
    run_id = text.removesuffix("\n")
    assert text == f"{uuid.UUID(run_id)}\n"
    async with server.http.get("ping/liner/0", params={"rid": run_id}) as answer:
        assert await answer.text() == text
    key = str(uuid.uuid4())
    for _ in range(2):  # the first answer, then the repeat's
        async with server.http.get("ping/liner", headers={"Idempotency-Key": key}) as answer:
            assert (await answer.text()).endswith("\n")


async def test_start_and_end_are_paired_by_rid(server: Served) -> None:
    run_id = await ping(server, "nightly/start")
    other = await ping(server, "nightly/start")
    assert await ping(server, "nightly", rid=run_id) == run_id
    run = await run_row(server, run_id)
    assert run["status"] == "success"
    assert run["finished_at"] >= run["started_at"]
    assert (await run_row(server, other))["status"] == "running"


async def test_an_end_without_rid_closes_the_latest_running_run(server: Served) -> None:
    await ping(server, "sync/start")
    latest = await ping(server, "sync/start")
    assert await ping(server, "sync/fail") == latest
    run = await run_row(server, latest)
    assert run["status"] == "failed"
    assert run["trigger"] == "ping"


async def test_an_exit_code_is_kept_in_the_result(server: Served) -> None:
    run_id = await ping(server, "import/start")
    assert await ping(server, "import/3") == run_id
    run = await run_row(server, run_id)
    assert run["status"] == "failed"
    assert run["result_text"] == '{"exit_code": 3}'


async def test_a_body_becomes_the_runs_log_lines_in_order(server: Served) -> None:
    run_id = await ping(server, "archive/start", b"starting\n")
    await ping(server, "archive/log", b"copied 10 files\r\ncopied 20 files\n", rid=run_id)
    await ping(server, "archive/fail", "disk full: \u00e9\n\n".encode(), rid=run_id)
    assert await log_messages(server, run_id) == [
        "starting",
        "copied 10 files",
        "copied 20 files",
        "disk full: \u00e9",
    ]
    run = await run_row(server, run_id)
    assert run["status"] == "failed"
    assert run["n_info"] == 4


async def test_log_without_rid_goes_to_the_running_run(server: Served) -> None:
    run_id = await ping(server, "etl/start")
    assert await ping(server, "etl/log", b"halfway") == run_id
    assert await log_messages(server, run_id) == ["halfway"]
    assert (await run_row(server, run_id))["status"] == "running"


async def test_a_retried_ping_answers_once_the_first_is_committed(server: Served) -> None:
    key = f"held-{uuid.uuid4()}"
    async with server.db.acquire() as conn, conn.transaction():
        # Hold the writer (its INSERT of the key waits; reads of keys do not).
        await conn.execute("LOCK TABLE idempotency_keys IN SHARE MODE")
        first = asyncio.ensure_future(ping(server, "held/start", key=key))
        retry = asyncio.ensure_future(ping(server, "held/start", key=key))
        done, _ = await asyncio.wait({first, retry}, timeout=1.0)
        assert not done  # a ping's answer means its run is stored
    assert await first == await retry
    assert (await run_row(server, await first))["status"] == "running"


async def test_a_retried_ping_with_an_idempotency_key_is_stored_once(server: Served) -> None:
    # curl --retry after a timeout or a 503: the same request again, the same key.
    key = f"report-{uuid.uuid4()}"
    run_id = await ping(server, "report/start", key=f"{key}-start")
    assert await ping(server, "report/start", key=f"{key}-start") == run_id
    for _ in range(2):
        assert await ping(server, "report/0", b"sent 3 mails\n", key=f"{key}-end") == run_id
    starts = await server.db.fetchval("SELECT count(*) FROM runs WHERE job = 'report'")
    assert starts == 1
    assert await log_messages(server, run_id) == ["sent 3 mails"]
    assert (await run_row(server, run_id))["status"] == "success"
    # Without a key, a repeated end with nothing running records a run of its own.
    assert await ping(server, "report/0") != run_id
    async with server.http.get("ping/report/0", headers={"Idempotency-Key": "k" * 201}) as bad:
        assert (bad.status, bad.content_type) == (400, "application/problem+json")


async def test_a_retry_with_the_key_of_a_good_ping_is_still_checked(server: Served) -> None:
    # Found by the schema fuzzer: the key's earlier answer came back before the rid was read.
    key = f"checked-{uuid.uuid4()}"
    await ping(server, "checked/start", key=key)
    for params in ({"rid": ""}, {"rid": "not-a-uuid"}):
        headers = {"Idempotency-Key": key}
        async with server.http.get("ping/checked/start", params=params, headers=headers) as bad:
            assert (bad.status, bad.content_type) == (400, "application/problem+json")
    async with server.http.get("ping/checked/256", headers={"Idempotency-Key": key}) as bad:
        assert bad.status == 404


async def test_a_huge_body_keeps_its_last_lines(server: Served) -> None:
    body = "\n".join(f"line {i}" for i in range(10_050)).encode()
    run_id = await ping(server, "chatty/0", body)
    messages = await log_messages(server, run_id)
    assert len(messages) == 10_000
    assert messages[0] == "… 51 earlier lines not stored"
    assert messages[-1] == "line 10049"


async def test_the_token_may_come_in_the_query(
    server_factory: Callable[..., Awaitable[Served]],
) -> None:
    server = await server_factory(tokens=parse_tokens(TOKENS_TEXT))
    async with server.http.get("ping/job") as answer:
        assert answer.status == 401
    async with server.http.get("ping/job", params={"token": "read-token"}) as answer:
        assert answer.status == 403
    async with server.http.post(
        "ping/job", headers={"Authorization": "Bearer ingest-token"}
    ) as answer:
        assert answer.status == 200
    async with server.http.get("ping/job/start", params={"token": "ingest-token"}) as answer:
        assert answer.status == 200
        uuid.UUID((await answer.text()).strip())


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("job/hello", {}, 404),
        ("job/256", {}, 404),
        ("job/-1", {}, 404),
        ("job/0", {"rid": "not-a-uuid"}, 400),
    ],
)
async def test_bad_pings_get_a_problem_document(
    server: Served, path: str, params: dict[str, str], status: int
) -> None:
    async with server.http.get(f"ping/{path}", params=params) as answer:
        assert answer.status == status
        assert answer.content_type == "application/problem+json"


@pytest.mark.parametrize("path", ["head-only", "head-only/fail", "head-only/start", "head-only/0"])
async def test_head_records_nothing_and_says_so(server: Served, path: str) -> None:
    # `curl -I` sends HEAD: a 200 would read as "pinged" though nothing was recorded.
    async with server.http.head(f"ping/{path}") as answer:
        assert answer.status == 405
        assert {m.strip() for m in answer.headers["Allow"].split(",")} == {"GET", "POST"}
    await server.flush()
    assert await server.db.fetchval("SELECT count(*) FROM runs WHERE job = 'head-only'") == 0
