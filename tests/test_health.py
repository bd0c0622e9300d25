"""GET /healthz and /readyz."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tests.conftest import Served


async def test_healthz_says_ok(server: Served) -> None:
    async with server.http.get("healthz") as answer:
        assert answer.status == 200
        assert await answer.json() == {"status": "ok"}


async def test_readyz_is_ready_with_database_and_writer(server: Served) -> None:
    async with server.http.get("readyz") as answer:
        assert answer.status == 200
        assert (await answer.json())["status"] == "ready"


async def test_readyz_says_why_when_the_database_is_unreachable(
    server_factory: Callable[..., Awaitable[Served]],
) -> None:
    # A DSN nobody answers: ingestd starts anyway and says why it is not ready.
    served = await server_factory(
        dsn="postgresql://postgres@127.0.0.1:1/none", wait_for_schema=False
    )
    async with served.http.get("readyz") as answer:
        assert answer.status == 503
        assert answer.content_type == "application/problem+json"
        assert "schema is not ready" in (await answer.json())["detail"]
