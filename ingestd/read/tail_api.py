"""GET /v1/tail: new log lines as Server-Sent Events, with the /v1/logs filters.

Each committed line that matches is sent as `event: log` with the log object as `data`
(its `id` is null: ids are given by the database). A comment is sent every
`TailHub.heartbeat_s` so proxies keep the stream open and dead clients are noticed. A client
too slow to keep up gets `event: overflow` with the number of lines it missed, and the
stream ends; on shutdown every stream ends at once. Past `INGESTD_TAIL_MAX_SUBSCRIBERS` open
streams, a new one is refused with 503. HEAD answers what GET would, without opening a stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import orjson
from aiohttp import web

from ingestd.http.auth import requires
from ingestd.http.problems import Problem
from ingestd.ingest.writer import WRITER
from ingestd.read.api import LOGS_PARAMS
from ingestd.read.params import Params
from ingestd.read.tail import TAIL, LogFilter, TailFull, TailHub
from ingestd.settings import SETTINGS

routes = web.RouteTableDef()

TAIL_PARAMS = tuple(p for p in LOGS_PARAMS if p not in ("limit", "cursor"))
#: A write that takes longer than this means the client is gone or stuck.
WRITE_TIMEOUT_S = 10.0
RETRY_MS = 2000
#: Retry-After when every stream is taken.
FULL_RETRY_AFTER_S = 30
HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx: do not buffer the stream
}


def tail_filter(params: Params) -> LogFilter:
    now = datetime.now(UTC)
    since, until = params.time_range(now)
    levels = params.levels()
    text = params.text("q", 200)
    if text is not None and not text.strip():
        params.search()  # raises the same 400 as /v1/logs
    return LogFilter(
        job=params.text("job"),
        run_id=params.uuid("run_id"),
        levels=None if levels is None else frozenset(levels),
        min_level=params.min_level(),
        step=params.text("step"),
        since=since,
        until=until,
        text=None if text is None else text.lower(),
        fingerprint=params.text("fingerprint"),
        attrs=tuple((a.key, a.values) for a in params.attr_filters()),
    )


def _full(hub: TailHub) -> Problem:
    return Problem(
        503,
        "Service Unavailable",
        f"{hub.max_subscribers} live tail streams are open already: try again later",
        headers={"Retry-After": str(FULL_RETRY_AFTER_S)},
    )


@routes.get("/v1/tail")
@requires("read", query_token=True)  # EventSource cannot send an Authorization header
async def tail(request: web.Request) -> web.StreamResponse:
    params = Params.of(request, (*TAIL_PARAMS, "token"), attrs=True)
    log_filter = tail_filter(params)
    hub = request.app[TAIL]
    if request.method == "HEAD":
        # What GET would answer, without a stream: HEAD has no side effects.
        if hub.full and not hub.closed:
            raise _full(hub)
        return web.Response(headers=HEADERS)
    try:
        subscriber = hub.subscribe(log_filter)
    except TailFull:
        raise _full(hub) from None
    response = web.StreamResponse(headers=HEADERS)
    try:
        await response.prepare(request)
        await _write(response, f"retry: {RETRY_MS}\n: tailing\n\n".encode())
        while True:
            batch = await subscriber.next_batch(hub.heartbeat_s)
            if batch is None:
                if subscriber.dropped:
                    missed = orjson.dumps({"dropped": subscriber.dropped})
                    await _write(response, b"event: overflow\ndata: " + missed + b"\n\n")
                break
            if not batch.rows:
                await _write(response, b": keep-alive\n\n")
                continue
            # Piece by piece: a client that reads slowly holds one piece, not the batch.
            for piece in batch.pieces(log_filter):
                if hub.closed:
                    break
                await _write(response, piece)
                # A write the socket takes at once does not yield, and every stream wakes
                # on the same commit: without this, one loop turn would write the whole
                # batch to every stream while other requests wait (stalls of a second
                # with 500 streams).
                await asyncio.sleep(0)
    except (ConnectionError, TimeoutError):
        # The client went away, or stopped reading: what its socket still holds goes too
        # (aiohttp would otherwise wait for it to read, to end the response).
        if request.transport is not None:
            request.transport.abort()
    finally:
        hub.unsubscribe(subscriber)
    return response


async def _write(response: web.StreamResponse, data: bytes) -> None:
    async with asyncio.timeout(WRITE_TIMEOUT_S):
        await response.write(data)


async def tail_ctx(app: web.Application) -> AsyncIterator[None]:
    """After the writer: hand its commits to the hub."""
    settings = app[SETTINGS]
    hub = app[TAIL] = TailHub(settings.tail_max_buffer_bytes, settings.tail_max_subscribers)
    app[WRITER].on_committed = hub.publish
    yield
    hub.close()


async def end_streams(app: web.Application) -> None:
    """on_shutdown: streams never end by themselves, so end them before the server waits
    for in-flight requests."""
    hub = app.get(TAIL)
    if hub is not None:
        hub.close()
