"""Per-client rate limits: 429 for the client over its rate, others unaffected."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson

from ingestd.ingest.ratelimit import RateLimiter
from tests.conftest import Served


def test_token_bucket_refills_at_the_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=10, burst=20, clock=lambda: now[0])
    assert limiter.take("a", 20) == 0.0
    assert limiter.take("a", 5) == 0.5  # 5 tokens at 10/s
    assert limiter.take("b", 20) == 0.0  # another client has its own bucket
    now[0] = 0.5
    assert limiter.take("a", 5) == 0.0
    assert limiter.take("a", 1000) > 0  # more than a burst: told when a burst would pass


async def test_a_client_over_its_rate_gets_429_with_retry_after(
    server_factory: Callable[..., Awaitable[Served]],
) -> None:
    served = await server_factory(client_rate_limit=1, client_burst=10)
    body = orjson.dumps([{"message": "m"}] * 8)
    async with served.http.post("v1/events", data=body) as answer:
        assert answer.status == 202
    async with served.http.post("v1/events", data=body) as answer:
        assert answer.status == 429
        assert int(answer.headers["Retry-After"]) >= 1
        assert "events/s" in (await answer.json())["detail"]
    # Another client (another token) is not slowed by the first one.
    headers = {"Authorization": "Bearer someone-else"}
    async with served.http.post("v1/events", data=body, headers=headers) as answer:
        assert answer.status == 202
