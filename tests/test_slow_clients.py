"""Slow and many clients: a request head has a deadline, open connections have a cap.

Run against ingestd as its own process, so the listener is the one `ingestd serve` uses.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import aiohttp
import orjson

from tests.conftest import IngestdProcess

DRIBBLERS = 50
BOUND_S = 30.0  # far past the timeout: only a connection never closed fails the test


async def dribble_until_closed(port: int) -> bytes:
    """Send a request head a byte at a time, forever; what the server said before closing."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"POST /v1/events HTTP/1.1\r\nHost: ingestd\r\nX-Slow: ")
        while True:
            try:
                writer.write(b"a")
                await writer.drain()
                answer = await asyncio.wait_for(reader.read(), 0.2)
            except TimeoutError:
                continue
            except ConnectionError:
                return b""
            return answer
    finally:
        writer.close()


async def post_one(ingestd: IngestdProcess) -> int:
    headers = {"Authorization": f"Bearer {ingestd.ingest_token}"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            ingestd.url + "/v1/events", data=orjson.dumps({"message": "m"}), headers=headers
        ) as answer,
    ):
        return answer.status


async def test_connections_dribbling_their_head_are_closed_and_others_served(
    ingestd_factory: Callable[..., IngestdProcess],
) -> None:
    ingestd = ingestd_factory({"INGESTD_HEADER_TIMEOUT_S": "1"})
    async with asyncio.timeout(BOUND_S):
        slow = [asyncio.create_task(dribble_until_closed(ingestd.port)) for _ in range(DRIBBLERS)]
        await asyncio.sleep(0.3)  # they are all connected and dribbling
        assert not any(task.done() for task in slow)
        assert await post_one(ingestd) == 202
        answers = await asyncio.gather(*slow)
    assert answers == [b""] * DRIBBLERS  # closed; no request was read, so none answered
    assert await post_one(ingestd) == 202


async def _first_answer(ingestd: IngestdProcess) -> bytes:
    """What a new connection is told without asking anything (b"" if nothing within 1 s)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", ingestd.port)
    try:
        return await asyncio.wait_for(reader.read(), 1.0)
    except TimeoutError:
        return b""
    finally:
        writer.close()


async def test_connections_past_the_cap_get_503_until_some_close(
    ingestd_factory: Callable[..., IngestdProcess],
) -> None:
    ingestd = ingestd_factory({"INGESTD_MAX_CONNECTIONS": "10"})
    idle = [await asyncio.open_connection("127.0.0.1", ingestd.port) for _ in range(9)]
    try:
        async with asyncio.timeout(BOUND_S):
            # The tenth, served: the nine before it were accepted first.
            assert await post_one(ingestd) == 202
            idle.append(await asyncio.open_connection("127.0.0.1", ingestd.port))
            # The server counts a connection once its accept loop has taken it, a moment
            # after the client's connect returns: try until the eleventh is turned away.
            answer = await _first_answer(ingestd)
            while not answer.startswith(b"HTTP/1.1 503"):
                answer = await _first_answer(ingestd)
    finally:
        for _, idle_writer in idle:
            idle_writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503")
    assert b"Content-Type: application/problem+json" in head
    assert b"Retry-After: 1" in head
    problem = orjson.loads(body)
    assert problem["status"] == 503
    assert "INGESTD_MAX_CONNECTIONS" in problem["detail"]
    async with asyncio.timeout(BOUND_S):
        while True:  # the idle ones are closed: room again, once the server has seen it
            with contextlib.suppress(aiohttp.ClientError):
                if await post_one(ingestd) == 202:
                    break
            await asyncio.sleep(0.05)
