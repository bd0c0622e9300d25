"""GET /v1/tail: live lines as Server-Sent Events, filtered; slow clients are cut off."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson
import pytest

from ingestd.http.auth import parse_tokens
from ingestd.ingest.events import Limits, LogRow, parse_log
from ingestd.ingest.writer import WRITER
from ingestd.read.tail import NOTHING, PIECE_BYTES, TAIL, Batch, LogFilter, TailHub
from ingestd.read.tail_api import end_streams
from tests import read_helpers
from tests.conftest import TOKENS_TEXT, Served
from tests.pgcluster import ThrowawayCluster
from tests.read_helpers import READ, bad, rid, send, served_database

empty = read_helpers.empty


@dataclass
class Stream:
    answer: aiohttp.ClientResponse
    comments: list[str] = field(default_factory=list)

    async def event(self, wait_s: float = 2.0) -> tuple[str, Any] | None:
        """The next event as (name, data); None when the stream ends."""
        name, data = "message", []
        async with asyncio.timeout(wait_s):
            while True:
                line = await self.answer.content.readline()
                if not line:
                    return None
                text = line.decode().rstrip("\n")
                if text.startswith(":"):
                    self.comments.append(text[1:].strip())
                elif text.startswith("event:"):
                    name = text[6:].strip()
                elif text.startswith("data:"):
                    data.append(text[5:].strip())
                elif text == "" and data:
                    return name, orjson.loads("\n".join(data))

    async def logs(self, n: int, wait_s: float = 2.0) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while len(found) < n:
            event = await self.event(wait_s)
            assert event is not None, "the stream ended"
            assert event[0] == "log", event
            found.append(event[1])
        return found


@pytest.fixture
async def tail(empty: Served) -> AsyncIterator[Any]:
    opened: list[aiohttp.ClientResponse] = []

    async def open_tail(headers: dict[str, str] | None = READ, **params: str) -> Stream:
        answer = await empty.http.get("v1/tail", params=params, headers=headers)
        opened.append(answer)
        assert answer.status == 200, await answer.text()
        assert answer.headers["Content-Type"] == "text/event-stream"
        stream = Stream(answer)
        # The first bytes (a retry hint and a comment) say the subscription is in place.
        first = await answer.content.readline()
        assert first.startswith(b"retry:")
        return stream

    yield open_tail
    for answer in opened:
        answer.close()


async def test_new_lines_arrive_within_a_second(empty: Served, tail: Any) -> None:
    stream = await tail(job="vapi-sync")
    run_id = rid()
    started = time.monotonic()
    await send(
        empty,
        {"job": "vapi-sync", "run_id": run_id, "message": "Fetched 120 calls", "step": "FETCH",
         "attrs": {"count": 120}},
        {"job": "other", "message": "not this one"},
        {"job": "vapi-sync", "message": "no run", "level": "warning"},
    )  # fmt: skip
    first, second = await stream.logs(2, wait_s=1.0)
    assert time.monotonic() - started < 1.0
    assert first["message"] == "Fetched 120 calls"
    assert first["run_id"] == run_id and first["step"] == "FETCH"
    assert first["attrs"] == {"count": 120}
    assert first["level"] == "info" and first["levelno"] == 20 and first["id"] is None
    assert second["message"] == "no run" and second["run_id"] is None


async def test_the_logs_filters_apply(empty: Served, tail: Any) -> None:
    errors = await tail(min_level="error", q="TIMEOUT")
    terminal = await tail(**{"attr.terminal_id": "T02", "level": "critical,error"})
    await send(
        empty,
        {"job": "j", "message": "timeout after 3 s", "level": "warning"},
        {"job": "j", "message": "Timeout after 30 s", "level": "error"},
        {
            "job": "atm",
            "message": "auth failed",
            "level": "critical",
            "attrs": {"terminal_id": "T02"},
        },
        {
            "job": "atm",
            "message": "auth failed",
            "level": "critical",
            "attrs": {"terminal_id": "T01"},
        },
        {"job": "atm", "message": "connected", "attrs": {"terminal_id": "T02"}},
    )
    (hit,) = await errors.logs(1)
    assert hit["message"] == "Timeout after 30 s"
    (hit,) = await terminal.logs(1)
    assert hit["attrs"] == {"terminal_id": "T02"} and hit["level"] == "critical"
    # Nothing else came: the next thing on either stream is a later line.
    await send(empty, {"job": "j", "message": "timeout marker", "level": "error",
                       "attrs": {"terminal_id": "T02"}})  # fmt: skip
    assert (await errors.logs(1))[0]["message"] == "timeout marker"
    assert (await terminal.logs(1))[0]["message"] == "timeout marker"


async def test_token_in_the_query_for_event_source(empty: Served, tail: Any) -> None:
    stream = await tail(headers=None, token="read-token")
    await send(empty, {"message": "hello"})
    assert (await stream.logs(1))[0]["message"] == "hello"
    async with empty.http.get("v1/tail", params={"token": "ingest-token"}) as answer:
        assert answer.status == 403
    async with empty.http.get("v1/tail") as answer:
        assert answer.status == 401


async def test_heartbeats_keep_the_stream_open(empty: Served, tail: Any) -> None:
    empty.app[TAIL].heartbeat_s = 0.05
    stream = await tail()
    with pytest.raises(TimeoutError):
        await stream.event(wait_s=0.3)
    assert "keep-alive" in stream.comments


def log_row(message: str = "m", job: str = "j", run_id: str | None = None) -> LogRow:
    event = {"message": message, "job": job} | ({} if run_id is None else {"run_id": run_id})
    return parse_log(event, datetime.now(UTC), Limits())


async def test_a_slow_client_is_cut_off_and_never_slows_ingest(empty: Served, tail: Any) -> None:
    hub = empty.app[TAIL]
    hub.max_buffer_bytes = 1
    stream = await tail()
    # Two commits before the stream could write the first: the second finds it behind by
    # more than it may be. It is cut off, told how many lines it missed, and the stream ends.
    hub.publish([log_row(f"line {i}") for i in range(3)])
    hub.publish([log_row(f"line {i}") for i in range(3, 20)])
    event = await stream.event()
    assert event == ("overflow", {"dropped": 20})
    assert await stream.event() is None
    assert hub.stats.dropped_rows == 20 and hub.stats.cut_off == 1
    assert hub.stats.subscribers == 0
    # The writer never noticed.
    await send(empty, *({"message": f"line {i}"} for i in range(20)))
    assert await empty.db.fetchval("SELECT count(*) FROM logs") == 20


async def test_publishing_never_waits_for_subscribers() -> None:
    row = log_row()
    hub = TailHub(max_buffer_bytes=Batch([row] * 10).size * 10)
    stuck = hub.subscribe(LogFilter())  # never reads
    keeps_up = hub.subscribe(LogFilter(job="j"))
    started = time.perf_counter()
    for _ in range(50):
        hub.publish([row] * 10)
        batch = await keeps_up.next_batch(0.1)
        assert batch is not None and len(batch.rows) == 10
    assert time.perf_counter() - started < 0.5
    # The stuck one was cut off once its backlog was full; the other one never noticed.
    assert stuck.closed and stuck.dropped == 110
    assert await stuck.next_batch(0.1) is None
    assert not keeps_up.closed
    assert hub.stats.cut_off == 1 and hub.stats.published_rows == 500


async def test_each_line_is_serialised_once_for_all_subscribers() -> None:
    hub = TailHub()
    everything, one_job, other_job = (
        hub.subscribe(LogFilter()),
        hub.subscribe(LogFilter(job="j")),
        hub.subscribe(LogFilter(job="k")),
    )
    run = rid()
    hub.publish([log_row("a", "j"), log_row("b", "k", run), log_row("c", "k")])
    batches = [await s.next_batch(0.1) for s in (everything, one_job, other_job)]
    assert batches[0] is batches[1] is batches[2]
    batch = batches[0]
    assert batch is not None
    a, b, c = batch.events
    assert list(batch.pieces(LogFilter())) == [a + b + c]
    assert list(batch.pieces(LogFilter(job="k"))) == [b + c]
    assert list(batch.pieces(LogFilter(job="k", levels=frozenset([40])))) == []
    assert list(batch.pieces(LogFilter(run_id=run))) == [b]
    assert list(batch.pieces(LogFilter(run_id=rid()))) == []
    assert list(batch.pieces(LogFilter(job="x"))) == []
    data = batch.events[0].removeprefix(b"event: log\ndata: ").removesuffix(b"\n\n")
    assert orjson.loads(data)["message"] == "a"


async def test_a_stream_of_one_run_wakes_only_for_that_runs_lines() -> None:
    hub = TailHub()
    run = rid()
    watching = hub.subscribe(LogFilter(run_id=run))
    hub.publish([log_row("other", "k", rid()), log_row("no run", "k")])
    assert not watching.backlog and watching.pending_bytes == 0
    assert await watching.next_batch(0.01) is NOTHING  # a keep-alive, nothing else
    hub.publish([log_row("other", "k"), log_row("ours", "k", run)])
    batch = await watching.next_batch(0.01)
    assert batch is not None and len(batch.rows) == 2
    assert [
        orjson.loads(p.split(b"data: ")[1])["message"] for p in batch.pieces(watching.filter)
    ] == ["ours"]


@pytest.mark.parametrize("log_filter", [LogFilter(), LogFilter(job="j")])
def test_a_batch_is_written_in_pieces_not_whole(log_filter: LogFilter) -> None:
    batch = Batch([log_row(f"line {i} " + "x" * 300) for i in range(2000)])
    pieces = list(batch.pieces(log_filter))
    assert b"".join(pieces) == b"".join(batch.events)
    event = len(batch.events[0])
    assert len(pieces) > 1
    assert all(len(piece) <= PIECE_BYTES + event for piece in pieces)


def test_the_backlog_is_bounded_in_bytes_not_lines() -> None:
    big = log_row("x" * 60_000)
    hub = TailHub(max_buffer_bytes=100_000)
    idle = hub.subscribe(LogFilter())
    # A subscriber that holds nothing takes any batch, even one larger than the bound...
    hub.publish([big, big])
    assert not idle.closed and idle.pending_bytes > 100_000
    # ...but not one more line past it: three lines of 60 kB are too much to hold.
    hub.publish([big])
    assert idle.closed and idle.dropped == 3


async def test_past_the_cap_a_new_stream_is_refused_with_503(
    server_factory: Callable[..., Awaitable[Served]],
) -> None:
    server = await server_factory(tokens=parse_tokens(TOKENS_TEXT), tail_max_subscribers=2)
    first = await server.http.get("v1/tail", headers=READ)
    second = await server.http.get("v1/tail", headers=READ)
    assert first.status == second.status == 200
    await first.content.readline()
    await second.content.readline()
    async with server.http.get("v1/tail", headers=READ) as third:
        assert third.status == 503
        assert third.content_type == "application/problem+json"
        assert int(third.headers["Retry-After"]) > 0
    second.close()
    hub = server.app[TAIL]
    await asyncio.wait_for(_until(lambda: hub.stats.subscribers == 1), 5)
    async with server.http.get("v1/tail", headers=READ) as again:
        assert again.status == 200
    first.close()
    async with server.http.get("metrics") as answer:
        assert "ingestd_tail_refused_total 1.0" in await answer.text()


async def _until(done: Callable[[], bool]) -> None:
    while not done():  # noqa: ASYNC110 - the hub has no event for an unsubscribe
        await asyncio.sleep(0.01)


async def test_head_answers_like_get_without_opening_a_stream(empty: Served) -> None:
    hub = empty.app[TAIL]
    async with empty.http.head("v1/tail", headers=READ, params={"job": "j"}) as answer:
        assert answer.status == 200
        assert answer.headers["Content-Type"] == "text/event-stream"
    async with empty.http.head("v1/tail", headers=READ, params={"level": "loud"}) as answer:
        assert answer.status == 400
    async with empty.http.head("v1/tail") as answer:
        assert answer.status == 401
    await send(empty, {"job": "j", "message": "nobody listens"})
    assert not hub.subscribers and hub.stats.published_rows == 1


async def test_streams_end_at_shutdown(pg_cluster: ThrowawayCluster) -> None:
    async with served_database(pg_cluster) as served:
        answer = await served.http.get("v1/tail", headers=READ)
        assert answer.status == 200
        await answer.content.readline()
        await end_streams(served.app)  # what on_shutdown does
        async with asyncio.timeout(2):
            assert b"event: log" not in await answer.content.read()  # ends, at once
        answer.close()
        # A new subscriber after shutdown began gets an empty, finished stream.
        async with served.http.get("v1/tail", headers=READ) as late:
            async with asyncio.timeout(2):
                assert b"event: log" not in await late.read()
        assert served.app[WRITER].on_committed is not None


async def test_server_close_does_not_wait_for_open_streams(pg_cluster: ThrowawayCluster) -> None:
    async with served_database(pg_cluster) as served:
        answer = await served.http.get("v1/tail", headers=READ)
        await answer.content.readline()
        started = time.monotonic()
    assert time.monotonic() - started < 3
    answer.close()


async def test_bad_filters_are_400_before_streaming(empty: Served) -> None:
    await bad(empty, "v1/tail", "level", level="loud")
    await bad(empty, "v1/tail", "run_id", run_id="x")
    await bad(empty, "v1/tail", "limit", limit="5")
    await bad(empty, "v1/tail", "q", q="  ")


async def test_a_lines_seq_is_in_the_stream_null_when_not_sent(empty: Served, tail: Any) -> None:
    stream = await tail(job="numbered")
    run_id = rid()
    await send(empty, {"job": "numbered", "run_id": run_id, "message": "first", "seq": 0},
               {"job": "numbered", "run_id": run_id, "message": "no number"})  # fmt: skip
    first, second = await stream.logs(2, wait_s=5.0)
    assert (first["message"], first["seq"]) == ("first", 0)
    assert (second["message"], second["seq"]) == ("no number", None)
