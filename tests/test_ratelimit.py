"""Per-client rate limits: 429 for the client over its rate, others unaffected."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
import pytest

from ingestd.http.auth import parse_tokens
from ingestd.ingest.ratelimit import RateLimiter
from tests.conftest import TOKENS_TEXT, Served

Factory = Callable[..., Awaitable[Served]]


def test_token_bucket_refills_at_the_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=10, burst=20, clock=lambda: now[0])
    assert limiter.take("a", 20) == 0.0
    assert limiter.take("a", 5) == 0.5  # 5 tokens at 10/s
    assert limiter.take("b", 20) == 0.0  # another client has its own bucket
    now[0] = 0.5
    assert limiter.take("a", 5) == 0.0
    assert limiter.take("a", 1000) > 0  # more than a burst: told when a burst would pass


async def post(served: Served, authorization: str | None, events: int = 8) -> int:
    headers = {} if authorization is None else {"Authorization": authorization}
    body = orjson.dumps([{"message": "m"}] * events)
    async with served.http.post("v1/events", data=body, headers=headers) as answer:
        if answer.status == 429:
            assert int(answer.headers["Retry-After"]) >= 1
            assert "events/s" in (await answer.json())["detail"]
        return answer.status


async def test_a_client_over_its_rate_gets_429_and_other_tokens_do_not(
    server_factory: Factory,
) -> None:
    served = await server_factory(
        client_rate_limit=1, client_burst=10, tokens=parse_tokens(TOKENS_TEXT)
    )
    assert await post(served, "Bearer ingest-token") == 202
    assert await post(served, "Bearer ingest-token") == 429
    # Another client (another token) is not slowed by the first one.
    assert await post(served, "Bearer admin-token") == 202


@pytest.mark.parametrize(
    "spelling", ["bearer ingest-token", "BEARER ingest-token", "Bearer   ingest-token  "]
)
async def test_another_spelling_of_the_same_token_shares_its_bucket(
    server_factory: Factory, spelling: str
) -> None:
    served = await server_factory(
        client_rate_limit=1, client_burst=10, tokens=parse_tokens(TOKENS_TEXT)
    )
    assert await post(served, "Bearer ingest-token") == 202
    assert await post(served, spelling) == 429


async def test_a_ping_with_the_token_in_the_query_shares_its_bucket(
    server_factory: Factory,
) -> None:
    served = await server_factory(
        client_rate_limit=1, client_burst=10, tokens=parse_tokens(TOKENS_TEXT)
    )
    assert await post(served, "Bearer ingest-token", events=10) == 202
    async with served.http.post("ping/backup", params={"token": "ingest-token"}) as answer:
        assert answer.status == 429


async def test_when_open_any_authorization_header_is_the_same_client(
    server_factory: Factory,
) -> None:
    served = await server_factory(client_rate_limit=1, client_burst=10)
    assert await post(served, None) == 202
    assert await post(served, "Bearer made-up") == 429
    assert await post(served, "Bearer made-up-too") == 429
