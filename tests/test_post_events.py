"""POST /v1/events: bodies, validation, limits, idempotency, backpressure."""

from __future__ import annotations

import asyncio
import gzip
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from ingestd.ingest.service import INGEST
from tests.conftest import Served

NDJSON = {"Content-Type": "application/x-ndjson"}


def ndjson(*lines: Any) -> bytes:
    return b"\n".join(line if isinstance(line, bytes) else orjson.dumps(line) for line in lines)


async def post(
    server: Served, body: bytes | Any, headers: dict[str, str] | None = None, query: str = ""
) -> tuple[int, dict[str, Any], Any]:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    headers = {"Content-Type": "application/json", **(headers or {})}
    async with server.http.post(f"v1/events{query}", data=data, headers=headers) as answer:
        return answer.status, dict(answer.headers), await answer.json(content_type=None)


async def messages(server: Served) -> list[str]:
    await server.flush()
    rows = await server.db.fetch("SELECT message FROM logs ORDER BY id")
    return [r["message"] for r in rows]


async def test_one_object_is_accepted_and_stored(server: Served) -> None:
    status, _, body = await post(server, {"message": "hello", "level": "warn", "job": "j"})
    assert status == 202
    assert body == {"accepted": 1, "rejected": [], "duplicate": False}
    await server.flush()
    row = await server.db.fetchrow("SELECT levelno, job, message FROM logs")
    assert row is not None
    assert dict(row) == {"levelno": 30, "job": "j", "message": "hello"}


async def test_an_array_keeps_good_events_and_lists_bad_ones_by_index(server: Served) -> None:
    events = [
        {"message": "a"},
        {"message": 1},
        {"message": "c", "run_id": "nope"},
        {"message": "d"},
    ]
    status, _, body = await post(server, events)
    assert status == 202
    assert body["accepted"] == 2
    assert [r["index"] for r in body["rejected"]] == [1, 2]
    assert "run_id must be a UUID" in body["rejected"][1]["error"]
    assert await messages(server) == ["a", "d"]


async def test_ndjson_with_a_malformed_line_among_good_ones(server: Served) -> None:
    body = ndjson({"message": "one"}, b"{not json", b"", {"message": "three"}, b'{"message": "tr')
    status, _, answer = await post(server, body, NDJSON)
    assert status == 202
    assert answer["accepted"] == 2
    assert [r["index"] for r in answer["rejected"]] == [1, 4]
    assert await messages(server) == ["one", "three"]


async def test_a_malformed_ndjson_line_is_named_by_its_place_in_the_body(server: Served) -> None:
    body = ndjson({"message": "one"}, {"message": "two"}, b'{"message": "x"} trailing')
    status, _, answer = await post(server, body, NDJSON)
    assert status == 202
    [rejected] = answer["rejected"]
    assert rejected["index"] == 2
    assert rejected["error"].startswith("line 3 (index 2) is not valid JSON: ")
    assert rejected["error"].endswith(" at column 18")
    assert "line 1" not in rejected["error"]


async def test_ndjson_sent_as_plain_json_is_still_understood(server: Served) -> None:
    status, _, answer = await post(server, ndjson({"message": "x"}, {"message": "y"}))
    assert (status, answer["accepted"]) == (202, 2)


async def test_gzip_bodies_are_accepted(server: Served) -> None:
    body = gzip.compress(ndjson(*({"message": f"m{i}"} for i in range(50))))
    status, _, answer = await post(server, body, {**NDJSON, "Content-Encoding": "gzip"})
    assert (status, answer["accepted"]) == (202, 50)
    assert len(await messages(server)) == 50


async def test_truncated_gzip_is_a_400(server: Served) -> None:
    body = gzip.compress(ndjson({"message": "x"}) * 100)[:-12]
    status, headers, answer = await post(server, body, {"Content-Encoding": "gzip"})
    assert status == 400
    assert headers["Content-Type"] == "application/problem+json"
    assert "truncated" in answer["detail"] or "corrupt" in answer["detail"]


async def test_nothing_valid_is_a_400_listing_the_reasons(server: Served) -> None:
    status, _, answer = await post(server, [{"message": 1}, {"level": "info"}])
    assert status == 400
    assert answer["title"] == "Bad Request"
    assert [e["index"] for e in answer["errors"]] == [0, 1]


async def test_not_json_at_all_and_empty_bodies_are_400(server: Served) -> None:
    for body in (b"hello there", b"", b"   ", b"[1, 2"):
        status, headers, answer = await post(server, body)
        assert status == 400, body
        assert answer["status"] == 400
        assert headers["Content-Type"] == "application/problem+json"


async def test_wrong_content_type_is_415(server: Served) -> None:
    status, _, answer = await post(server, b"<a/>", {"Content-Type": "application/xml"})
    assert status == 415
    assert "application/x-ndjson" in answer["detail"]


async def test_body_over_the_limit_is_413(server_factory: Callable[..., Awaitable[Served]]) -> None:
    served = await server_factory(max_body_bytes=2048)
    status, _, answer = await post(served, {"message": "x" * 5000})
    assert status == 413
    # Also when the size only shows after decompression.
    bomb = gzip.compress(orjson.dumps({"message": "y" * 100_000}))
    assert len(bomb) < 2048
    status, _, answer = await post(served, bomb, {"Content-Encoding": "gzip"})
    assert status == 413
    assert "inflates" in answer["detail"]


async def test_unknown_or_corrupt_encodings_are_4xx(server: Served) -> None:
    gz = gzip.compress(orjson.dumps({"message": "x"}))
    status, _, answer = await post(server, gz, {"Content-Encoding": "zstd"})
    assert status == 415
    status, _, answer = await post(server, gz, {"Content-Encoding": "deflate"})
    assert status == 400
    assert "deflate body is corrupt" in answer["detail"]


async def test_wait_commit_answers_200_once_stored(server: Served) -> None:
    status, _, answer = await post(server, {"message": "durable"}, query="?wait=commit")
    assert status == 200
    assert answer["accepted"] == 1
    assert await server.db.fetchval("SELECT count(*) FROM logs") == 1
    status, _, answer = await post(server, {"message": "x"}, query="?wait=later")
    assert status == 400
    assert answer["parameter"] == "wait"


async def test_a_repeated_idempotency_key_is_stored_once(server: Served) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await post(server, [{"message": "a"}, {"message": 5}], key)
    await server.flush()
    second = await post(server, [{"message": "a"}, {"message": 5}], key)
    assert first[0] == second[0] == 202
    assert first[2]["duplicate"] is False
    assert second[2] == {**first[2], "duplicate": True}
    assert await messages(server) == ["a"]


async def test_a_retry_racing_its_original_is_recognised(server: Served) -> None:
    key = {"Idempotency-Key": "race-1"}
    answers = await asyncio.gather(*(post(server, {"message": "once"}, key) for _ in range(5)))
    assert sorted(a[2]["duplicate"] for a in answers) == [False, True, True, True, True]
    assert await messages(server) == ["once"]


async def test_a_repeat_with_wait_commit_answers_once_the_original_is_committed(
    server: Served,
) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    stored = "SELECT count(*) FROM logs WHERE message = 'held'"
    async with server.db.acquire() as conn, conn.transaction():
        # Hold the writer (its INSERT of the key waits; reads of keys do not): the original
        # stays queued while it is repeated.
        await conn.execute("LOCK TABLE idempotency_keys IN SHARE MODE")
        assert (await post(server, {"message": "held"}, key))[0] == 202
        repeat = asyncio.ensure_future(post(server, {"message": "held"}, key, query="?wait=commit"))
        done, _ = await asyncio.wait({repeat}, timeout=1.0)
        assert not done  # a 200 now would claim a commit that has not happened
    status, _, answer = await repeat
    assert (status, answer["duplicate"]) == (200, True)
    assert await server.db.fetchval(stored) == 1  # no flush needed: it is committed


async def test_an_event_id_is_stored_once_across_requests(server: Served) -> None:
    run_id = str(uuid.uuid4())
    event = {"message": "e", "event_id": "evt-1", "run_id": run_id}
    await post(server, [event, event])
    await server.flush()
    await post(server, event)
    await post(server, {"message": "other", "event_id": "evt-2", "run_id": run_id})
    assert await messages(server) == ["e", "other"]


async def test_nul_in_messages_keys_and_attrs_is_stored_not_fatal(server: Served) -> None:
    status, _, answer = await post(
        server, {"message": "a\u0000b", "attrs": {"k\u0000": ["v\u0000"]}, "step": "S\u0000"}
    )
    assert (status, answer["accepted"]) == (202, 1)
    await server.flush()
    row = await server.db.fetchrow("SELECT message, attrs::text, step FROM logs")
    assert row is not None
    assert row["message"] == "a\ufffdb"
    assert orjson.loads(row["attrs"]) == {"k\ufffd": ["v\ufffd"]}
    assert row["step"] == "S\ufffd"


async def test_a_full_queue_spills_to_the_spool_and_keeps_order(
    server_factory: Callable[..., Awaitable[Served]],
) -> None:
    served = await server_factory(queue_max_events=10)
    # Hold the writer: memory fills, then parcels go to the spool, in order.
    async with served.db.acquire() as conn, conn.transaction():
        await conn.execute("LOCK TABLE runs IN ACCESS EXCLUSIVE MODE")
        run_id = str(uuid.uuid4())
        sent = []
        for batch in range(6):
            lines = [{"message": f"{batch}-{i}", "run_id": run_id} for i in range(4)]
            sent += [line["message"] for line in lines]
            status, _, _ = await post(served, lines)
            assert status == 202
        assert served.app[INGEST].queue.spilled
    await served.flush()
    assert await messages(served) == sent
    for _ in range(100):  # the writer switches back to memory once it has caught up
        if not served.app[INGEST].queue.spilled:
            break
        await asyncio.sleep(0.01)
    assert not served.app[INGEST].queue.spilled


async def test_queue_and_spool_full_answers_503_with_retry_after(
    server_factory: Callable[..., Awaitable[Served]],
) -> None:
    served = await server_factory(queue_max_events=10, spool_max_bytes=4096)
    async with served.db.acquire() as conn, conn.transaction():
        await conn.execute("LOCK TABLE runs IN ACCESS EXCLUSIVE MODE")
        run_id = str(uuid.uuid4())
        accepted = 0
        for _ in range(100):
            status, headers, answer = await post(
                served, [{"message": "x" * 200, "run_id": run_id}] * 5
            )
            if status != 202:
                break
            accepted += 5
        assert status == 503
        assert headers["Retry-After"] == "1"
        assert "spool are full" in answer["detail"]
    # Once the writer gets through, there is room again and nothing accepted was lost.
    await served.flush()
    status, _, _ = await post(served, [{"message": "x"}] * 5)
    assert status == 202
    assert len(await messages(served)) == accepted + 5


async def test_a_request_larger_than_the_queue_is_413(
    server_factory: Callable[..., Awaitable[Served]],
) -> None:
    served = await server_factory(queue_max_events=10)
    status, _, answer = await post(served, [{"message": "x"}] * 11)
    assert status == 413
    assert "more than the queue can ever take" in answer["detail"]


async def test_unknown_paths_and_methods_answer_problem_json(server: Served) -> None:
    async with server.http.get("v1/nowhere") as answer:
        assert answer.status == 404
        assert answer.content_type == "application/problem+json"
    async with server.http.delete("v1/events") as answer:
        assert answer.status == 405
        assert answer.content_type == "application/problem+json"
        assert "POST" in answer.headers["Allow"]
