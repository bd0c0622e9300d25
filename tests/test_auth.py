"""Bearer tokens and scopes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
import pytest

from ingestd.http.auth import parse_tokens
from tests.conftest import TOKENS_TEXT, Served


@pytest.fixture
async def guarded(server_factory: Callable[..., Awaitable[Served]]) -> Served:
    return await server_factory(tokens=parse_tokens(TOKENS_TEXT))


async def status_of(server: Served, token: str | None) -> tuple[int, dict[str, str]]:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    async with server.http.post(
        "v1/events", data=orjson.dumps({"message": "m"}), headers=headers
    ) as answer:
        return answer.status, dict(answer.headers)


async def test_no_token_is_401_with_a_challenge(guarded: Served) -> None:
    status, headers = await status_of(guarded, None)
    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert headers["Content-Type"] == "application/problem+json"


async def test_a_wrong_token_is_401(guarded: Served) -> None:
    assert (await status_of(guarded, "nope"))[0] == 401


async def test_a_token_without_the_scope_is_403(guarded: Served) -> None:
    assert (await status_of(guarded, "read-token"))[0] == 403


async def test_tokens_with_the_scope_pass(guarded: Served) -> None:
    assert (await status_of(guarded, "ingest-token"))[0] == 202
    assert (await status_of(guarded, "admin-token"))[0] == 202


async def test_operations_endpoints_need_no_token(guarded: Served) -> None:
    async with guarded.http.get("healthz") as answer:
        assert answer.status == 200


async def test_no_tokens_configured_means_open(server: Served) -> None:
    assert (await status_of(server, None))[0] == 202


def test_token_parsing() -> None:
    tokens = parse_tokens("a:ingest  b:read,admin\nb:ingest")
    assert sorted(tokens.values(), key=len) == [
        frozenset({"ingest"}),
        frozenset({"read", "admin", "ingest"}),
    ]
    with pytest.raises(ValueError, match="unknown scope"):
        parse_tokens("a:write")
    with pytest.raises(ValueError, match="token:scope"):
        parse_tokens("justatoken")
