"""A short-lived cache of stats answers, so dashboards cannot make reads compete with ingest.

A 7-day figure aggregates tens of thousands of rows; every open dashboard asks for several
every 10 seconds. Answers are kept `ttl_s` seconds per distinct request (path and query);
concurrent identical requests share one computation. `Cache-Control: no-cache` on a request
recomputes. Answers say their age (`Age`, `Cache-Control: max-age`). Only successful
answers are kept; a bad parameter is refused before anything is cached.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from aiohttp import web

TTL_S = 5.0
MAX_ENTRIES = 256

Handler = Callable[[web.Request], Awaitable[web.Response]]


class StatsCache:
    def __init__(self, ttl_s: float = TTL_S, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, asyncio.Future[bytes]]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    async def get(self, key: str, compute: Callable[[], Awaitable[bytes]]) -> tuple[bytes, float]:
        """(body, age in seconds): the kept answer while fresh, else a new one."""
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and now - entry[0] < self.ttl_s:
            started, shared = entry
            self._entries.move_to_end(key)
            self.hits += 1
            return await asyncio.shield(shared), time.monotonic() - started
        self.misses += 1
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._entries[key] = (now, future)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        try:
            body = await compute()
        except BaseException as exc:
            if key in self._entries and self._entries[key][1] is future:
                del self._entries[key]  # failures are not kept
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)
                future.exception()  # marked retrieved; waiters, if any, get it raised
            raise
        future.set_result(body)
        return body, time.monotonic() - now


STATS_CACHE = web.AppKey("stats_cache", StatsCache)


def cached(handler: Handler) -> Handler:
    """Serve a JSON GET handler's answers from the app's StatsCache."""

    @functools.wraps(handler)
    async def serve(request: web.Request) -> web.Response:
        cache = request.app[STATS_CACHE]
        if "no-cache" in request.headers.get("Cache-Control", "").lower():
            return await handler(request)

        async def compute() -> bytes:
            answer = await handler(request)
            assert isinstance(answer.body, bytes)
            return answer.body

        key = request.path + "?" + "&".join(f"{k}={v}" for k, v in sorted(request.query.items()))
        body, age = await cache.get(key, compute)
        return web.Response(
            body=body,
            content_type="application/json",
            headers={"Cache-Control": f"max-age={int(cache.ttl_s)}", "Age": str(int(age))},
        )

    return serve
