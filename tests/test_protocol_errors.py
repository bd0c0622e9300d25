"""What aiohttp refuses before a handler runs, and bodies sent too slowly: problem+json.

Raw sockets against ingestd as its own process, so the listener and handler class are the
ones `ingestd serve` uses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson
import pytest

from tests.conftest import IngestdProcess

BOUND_S = 20.0


async def exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes; the status, headers and body of the answer (read until closed)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), BOUND_S)
    finally:
        writer.close()
    return parse_answer(raw)


def parse_answer(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def problem(answer: tuple[int, dict[str, str], bytes], status: int) -> dict[str, Any]:
    got_status, headers, body = answer
    assert got_status == status, body
    assert headers["content-type"].startswith("application/problem+json")
    document: dict[str, Any] = orjson.loads(body)
    assert document["status"] == status
    return document


async def healthy(ingestd: IngestdProcess) -> int:
    async with aiohttp.ClientSession() as http, http.get(ingestd.url + "/healthz") as answer:
        return answer.status


@pytest.fixture(scope="module")
def ingestd(ingestd_factory_module: Callable[..., IngestdProcess]) -> IngestdProcess:
    return ingestd_factory_module({"INGESTD_BODY_TIMEOUT_S": "1"})


async def test_a_url_past_the_request_line_limit_gets_414_problem(ingestd: IngestdProcess) -> None:
    request = b"GET /v1/runs?job=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: ingestd\r\n\r\n"
    document = problem(await exchange(ingestd.port, request), 414)
    assert "8192 bytes" in document["detail"]
    assert await healthy(ingestd) == 200


async def test_a_header_past_the_field_limit_gets_431_problem(ingestd: IngestdProcess) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: ingestd\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n"
    document = problem(await exchange(ingestd.port, request), 431)
    assert "header field" in document["detail"]


async def test_too_many_headers_get_431_problem(ingestd: IngestdProcess) -> None:
    many = b"".join(b"X-H%d: v\r\n" % n for n in range(200))
    request = b"GET /healthz HTTP/1.1\r\nHost: ingestd\r\n" + many + b"\r\n"
    document = problem(await exchange(ingestd.port, request), 431)
    assert "header fields" in document["detail"]


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"NOT HTTP AT ALL\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: ingestd\r\nBad Header\r\n\r\n",
        b"POST /v1/events HTTP/1.1\r\nHost: ingestd\r\nContent-Length: x\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # TLS on the HTTP port
    ],
)
async def test_a_malformed_head_gets_400_problem(
    ingestd: IngestdProcess, request_bytes: bytes
) -> None:
    document = problem(await exchange(ingestd.port, request_bytes), 400)
    assert document["detail"].startswith("the request is not valid HTTP")


async def test_a_body_sent_too_slowly_gets_408_and_frees_the_connection(
    ingestd: IngestdProcess,
) -> None:
    body = orjson.dumps({"message": "slow"})
    head = (
        f"POST /v1/events HTTP/1.1\r\nHost: ingestd\r\n"
        f"Authorization: Bearer {ingestd.ingest_token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", ingestd.port)
    answered = asyncio.create_task(reader.read())  # until the server closes
    try:
        writer.write(head)
        async with asyncio.timeout(BOUND_S):
            # A byte every 0.2 s: never all in within INGESTD_BODY_TIMEOUT_S (1 s).
            for byte in body[:-1]:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.wait([answered], timeout=0.2)
                if answered.done():
                    break
            else:
                raise AssertionError("the whole body but one byte went unanswered")
            raw = await answered
    finally:
        answered.cancel()
        writer.close()
    answer = parse_answer(raw)  # read() returned: the connection was closed after it
    document = problem(answer, 408)
    assert "INGESTD_BODY_TIMEOUT_S" in document["detail"]
    assert answer[1]["connection"].lower() == "close"
    assert await healthy(ingestd) == 200
    # Nothing of it was accepted.
    assert ingestd.query("SELECT count(*) AS n FROM logs WHERE message = 'slow'") == [{"n": 0}]
