"""The batch writer: bad data isolated to dead letters, a vanished database survived."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import orjson
import pytest

from ingestd.ingest.writer import _partition_race
from tests.conftest import Served
from tests.pgcluster import ThrowawayCluster

NDJSON = {"Content-Type": "application/x-ndjson"}


async def post_lines(server: Served, messages: list[str], **headers: str) -> dict[str, object]:
    body = b"\n".join(orjson.dumps({"message": m, "job": "w"}) for m in messages)
    async with server.http.post("v1/events", data=body, headers={**NDJSON, **headers}) as answer:
        assert answer.status == 202
        result: dict[str, object] = await answer.json()
        return result


async def test_bad_rows_are_isolated_and_dead_lettered_neighbours_kept(server: Served) -> None:
    # The database itself refuses some rows: one bad row must not cost the batch.
    await server.db.execute(
        "ALTER TABLE logs ADD CONSTRAINT no_poison CHECK (message NOT LIKE 'poison%')"
    )
    messages = [f"ok {i}" for i in range(200)]
    for index in (3, 77, 150):
        messages[index] = f"poison {index}"
    await post_lines(server, messages[:100])
    await post_lines(server, messages[100:])
    await server.flush()
    stored = await server.db.fetch("SELECT message FROM logs ORDER BY id")
    assert [r["message"] for r in stored] == [m for m in messages if not m.startswith("poison")]
    dead = await server.db.fetch("SELECT reason, event FROM dead_letters ORDER BY id")
    assert len(dead) == 3
    assert all("no_poison" in r["reason"] for r in dead)
    assert [orjson.loads(r["event"])["message"] for r in dead] == [
        "poison 3",
        "poison 77",
        "poison 150",
    ]
    assert server.writer_stats.dead_lettered == 3


async def test_a_keyed_request_with_a_bad_row_is_still_recognised_on_retry(server: Served) -> None:
    await server.db.execute(
        "ALTER TABLE logs ADD CONSTRAINT no_poison CHECK (message NOT LIKE 'poison%')"
    )
    lines = ["a", "b", "poison", "c"]
    await post_lines(server, lines, **{"Idempotency-Key": "k-1"})
    await server.flush()
    again = await post_lines(server, lines, **{"Idempotency-Key": "k-1"})
    assert again["duplicate"] is True
    await server.flush()
    assert await server.db.fetchval("SELECT count(*) FROM logs") == 3
    assert await server.db.fetchval("SELECT count(*) FROM dead_letters") == 1


@pytest.fixture
def own_cluster() -> Iterator[ThrowawayCluster]:
    """A cluster of this test's own, so stopping it disturbs no other test."""
    base = Path(tempfile.mkdtemp(prefix="ig-own-"))
    cluster = ThrowawayCluster.from_env(base)
    if not cluster.can_control:
        pytest.skip("needs a PostgreSQL this suite controls")
    yield cluster
    cluster.destroy()
    shutil.rmtree(base, ignore_errors=True)


async def test_the_writer_survives_the_database_going_away_and_back(
    own_cluster: ThrowawayCluster, server_factory: Callable[..., Awaitable[Served]]
) -> None:
    served = await server_factory(dsn=own_cluster.dsn, retry_max_backoff_s=0.3)
    run_id = str(uuid.uuid4())
    first = [{"message": f"before {i}", "run_id": run_id, "job": "j"} for i in range(50)]
    async with served.http.post("v1/events?wait=commit", data=orjson.dumps(first)) as answer:
        assert answer.status == 200
    await served.db.close()  # the assertion pool must not hold a dead connection
    own_cluster.stop_server()

    second = [{"message": f"during {i}", "run_id": run_id} for i in range(50)]
    async with served.http.post("v1/events", data=orjson.dumps(second)) as answer:
        assert answer.status == 202  # accepted into the queue while the database is away
    for _ in range(100):
        async with served.http.get("readyz") as answer:
            if answer.status == 503:
                assert "database" in (await answer.json())["detail"]
                break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("readyz never said the database was failing")

    own_cluster.start_server()
    async with asyncio.timeout(30):
        await served.flush()
    conn = await asyncpg.connect(own_cluster.dsn)
    try:
        messages = [r["message"] for r in await conn.fetch("SELECT message FROM logs")]
        n_info = await conn.fetchval("SELECT n_info FROM runs WHERE run_id = $1", run_id)
    finally:
        await conn.close()
    assert sorted(messages) == sorted(e["message"] for e in first + second)
    assert n_info == 100
    async with served.http.get("readyz") as answer:
        assert answer.status == 200


@pytest.mark.parametrize("attempt", range(5))
async def test_the_first_events_after_start_are_written_not_dead_lettered(
    server_factory: Callable[..., Awaitable[Served]], attempt: int
) -> None:
    # Regression: rows routed to the default partition while today's partition was being
    # attached failed with a partition-constraint violation and were dead-lettered.
    served = await server_factory()
    await post_lines(served, [f"first {attempt}"])
    await served.flush()
    assert await served.db.fetchval("SELECT count(*) FROM logs") == 1
    assert served.writer_stats.dead_lettered == 0


def test_a_partition_race_is_retried_not_dead_lettered() -> None:
    race = asyncpg.CheckViolationError(
        'new row for relation "logs_default" violates partition constraint'
    )
    assert _partition_race(race)
    assert not _partition_race(asyncpg.CheckViolationError('violates check constraint "x"'))


async def test_a_nul_in_a_run_counters_key_does_not_stop_the_writer(
    server_factory: Callable[..., Awaitable[Served]],
) -> None:
    # Issue 13.1: jsonb refused the NUL, the dead-letter insert too, and the writer retried
    # for good: every later commit waited in vain.
    served = await server_factory(commit_wait_s=10)
    run_id = "33333333-3333-4333-8333-333333333333"
    bad = b'{"kind":"run","run_id":"%s","job":"x","counters":{"\\u0000":1}}' % run_id.encode()
    async with served.http.post("v1/events", data=bad) as answer:
        assert answer.status == 202
    good = orjson.dumps({"message": "after", "job": "x"})
    async with served.http.post("v1/events?wait=commit", data=good) as answer:
        assert answer.status == 200
    async with served.http.get("readyz") as answer:
        assert answer.status == 200
    counters = await served.db.fetchval(
        "SELECT counters::text FROM runs WHERE run_id = $1", uuid.UUID(run_id)
    )
    assert orjson.loads(counters) == {"\ufffd": 1}
