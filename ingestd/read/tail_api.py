"""GET /v1/tail: new log lines as Server-Sent Events, with the /v1/logs filters.

Each committed line that matches is sent as `event: log` with the log object as `data`
(its `id` is null: ids are given by the database). A comment is sent every
`TailHub.heartbeat_s` so proxies keep the stream open and dead clients are noticed. A client
too slow to keep up gets `event: overflow` with the number of lines it missed, and the
stream ends; on shutdown every stream ends at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import orjson
from aiohttp import web

from ingestd.http.auth import requires
from ingestd.ingest.writer import WRITER
from ingestd.read.api import LOGS_PARAMS
from ingestd.read.params import Params
from ingestd.read.tail import TAIL, LogFilter, TailHub, tail_view

routes = web.RouteTableDef()

TAIL_PARAMS = tuple(p for p in LOGS_PARAMS if p not in ("limit", "cursor"))
#: A write that takes longer than this means the client is gone or stuck.
WRITE_TIMEOUT_S = 10.0
RETRY_MS = 2000


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


def _event(row_json: bytes) -> bytes:
    return b"event: log\ndata: " + row_json + b"\n\n"


@routes.get("/v1/tail")
@requires("read", query_token=True)  # EventSource cannot send an Authorization header
async def tail(request: web.Request) -> web.StreamResponse:
    params = Params.of(request, (*TAIL_PARAMS, "token"), attrs=True)
    log_filter = tail_filter(params)
    hub = request.app[TAIL]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # nginx: do not buffer the stream
        }
    )
    await response.prepare(request)
    subscriber = hub.subscribe(log_filter)
    try:
        await _write(response, f"retry: {RETRY_MS}\n: tailing\n\n".encode())
        while True:
            batch = await subscriber.next_batch(hub.heartbeat_s)
            if batch is None:
                if subscriber.dropped:
                    missed = orjson.dumps({"dropped": subscriber.dropped})
                    await _write(response, b"event: overflow\ndata: " + missed + b"\n\n")
                break
            if not batch:
                await _write(response, b": keep-alive\n\n")
                continue
            chunk = b"".join(
                _event(orjson.dumps(tail_view(row))) for row in batch if log_filter.matches(row)
            )
            if chunk:
                await _write(response, chunk)
    except (ConnectionError, TimeoutError):
        pass  # the client went away, or stopped reading
    finally:
        hub.unsubscribe(subscriber)
    return response


async def _write(response: web.StreamResponse, data: bytes) -> None:
    await asyncio.wait_for(response.write(data), WRITE_TIMEOUT_S)


async def tail_ctx(app: web.Application) -> AsyncIterator[None]:
    """After the writer: hand its commits to the hub."""
    hub = app[TAIL] = TailHub()
    app[WRITER].on_committed = hub.publish
    yield
    hub.close()


async def end_streams(app: web.Application) -> None:
    """on_shutdown: streams never end by themselves, so end them before the server waits
    for in-flight requests."""
    hub = app.get(TAIL)
    if hub is not None:
        hub.close()
