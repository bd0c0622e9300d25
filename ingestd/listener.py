"""Serving the app on its socket, with a cap on open connections.

aiohttp's run_app cannot take a site of our own, and only a site sees connections as they
are accepted, so this is run_app's loop for one socket: AppRunner still turns SIGTERM and
SIGINT into a graceful exit (stop listening, finish in-flight requests, cleanup in reverse
order); past the cap, a new connection is answered 503 and closed at once, before it costs
a request handler. Slow clients are bounded by aiohttp's keep-alive timer, which app.py sets
to INGESTD_HEADER_TIMEOUT_S: it runs while a connection waits for a complete request head,
and bytes dribbled in do not restart it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from typing import cast

import orjson
from aiohttp import web

from ingestd.http.problems import CONTENT_TYPE, PROBLEM_TYPE_BASE
from ingestd.http.protocol_errors import ProblemRequestHandler


def _refusal(limit: int) -> bytes:
    body = orjson.dumps(
        {
            "type": PROBLEM_TYPE_BASE + "service-unavailable",
            "title": "Service Unavailable",
            "status": 503,
            "detail": f"ingestd has {limit} connections open, its limit "
            "(INGESTD_MAX_CONNECTIONS); try again",
        }
    )
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        f"Content-Type: {CONTENT_TYPE}\r\nContent-Length: {len(body)}\r\n"
        "Retry-After: 1\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


class _Refused(asyncio.Protocol):
    def __init__(self, answer: bytes) -> None:
        self.answer = answer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A TCP transport (uvloop's are not asyncio.Transport subclasses, so no isinstance).
        cast(asyncio.WriteTransport, transport).write(self.answer)
        transport.close()


class CappedSite(web.SockSite):
    """A SockSite that refuses connections past `max_connections` open at once."""

    def __init__(self, runner: web.AppRunner, sock: socket.socket, max_connections: int) -> None:
        super().__init__(runner, sock)
        self.max_connections = max_connections
        self._refusal = _refusal(max_connections)

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site; SockSite.start would listen
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()

        def protocol() -> asyncio.BaseProtocol:
            # The handlers of open connections (those closing are dropped once done).
            if len(server.connections) >= self.max_connections:
                return _Refused(self._refusal)
            # aiohttp's Server() with our handler class, so that even what aiohttp refuses
            # itself is answered as problem+json (http/protocol_errors.py).
            return ProblemRequestHandler(server, loop=loop, **server._kwargs)

        self._server = await loop.create_server(protocol, sock=self._sock)


async def _serve(
    app: web.Application, sock: socket.socket, max_connections: int, grace_s: float
) -> None:
    runner = web.AppRunner(app, handle_signals=True, access_log=None, shutdown_timeout=grace_s)
    await runner.setup()
    try:
        await CappedSite(runner, sock, max_connections).start()
        await asyncio.Event().wait()  # until a signal raises GracefulExit
    finally:
        await runner.cleanup()


def run_app(
    app: web.Application,
    sock: socket.socket,
    *,
    max_connections: int,
    grace_s: float,
    loop_factory: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    """Serve until SIGTERM or SIGINT, then shut down as aiohttp's run_app does."""
    loop = loop_factory()
    asyncio.set_event_loop(loop)
    main = loop.create_task(_serve(app, sock, max_connections, grace_s))
    try:
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        # The main task first: its cleanup drains the writer before the pool closes, so
        # the other tasks must still be running; then whatever is left.
        if not main.done():
            main.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(main)
        rest = asyncio.all_tasks(loop)
        for task in rest:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*rest, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
