"""Bearer tokens with scopes: `ingest`, `read`, `admin`."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web

from ingestd.http.problems import Problem

SCOPES = frozenset({"ingest", "read", "admin"})

#: sha256(token) -> scopes. Hashing first means a lookup's timing says nothing
#: useful about the stored tokens.
Tokens = dict[bytes, frozenset[str]]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)

#: Who sent a request, for per-client limits: the token it resolved to (however the header
#: was spelt), or the client's address when ingestd is open. Set on routes that need a scope.
CLIENT = web.RequestKey("client", str)
#: The scopes the request was granted (all of them when ingestd is open).
GRANTED = web.RequestKey("granted", frozenset)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def parse_tokens(text: str) -> Tokens:
    """Parse whitespace-separated `token:scope,scope` entries."""
    tokens: Tokens = {}
    for entry in text.split():
        token, sep, scopes_text = entry.rpartition(":")
        if not sep or not token:
            raise ValueError(f"entry {entry[:4]}... must look like token:scope[,scope]")
        scopes = frozenset(s.strip().lower() for s in scopes_text.split(",") if s.strip())
        unknown = scopes - SCOPES
        if unknown or not scopes:
            raise ValueError(
                f"unknown scope(s) {', '.join(sorted(unknown)) or '(none)'}; "
                f"use {', '.join(sorted(SCOPES))}"
            )
        tokens[_digest(token)] = tokens.get(_digest(token), frozenset()) | scopes
    return tokens


def requires(scope: str, *, query_token: bool = False) -> Callable[[H], H]:
    """Mark a handler as needing `scope`; `query_token` also accepts `?token=`."""

    def mark(handler: H) -> H:
        handler.ingestd_scope = scope  # type: ignore[attr-defined]
        handler.ingestd_query_token = query_token  # type: ignore[attr-defined]
        return handler

    return mark


def _presented_token(request: web.Request, query_token: bool) -> str | None:
    header = request.headers.get("Authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None
    if query_token:
        return request.query.get("token")
    return None


def client_of(request: web.Request) -> str:
    """Who is sending, for rate limits: the resolved token, else the client's address."""
    return request.get(CLIENT) or f"a:{request.remote}"


def granted(request: web.Request, scope: str) -> bool:
    """Whether the request's token has `scope` (always, when ingestd is open)."""
    return scope in request.get(GRANTED, frozenset())


def make_auth_middleware(tokens: Tokens) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        route_handler = request.match_info.handler
        scope: str | None = getattr(route_handler, "ingestd_scope", None)
        if scope is None:
            return await handler(request)  # the open routes: health, metrics, dashboard
        if not tokens:
            # No tokens configured: the daemon is open (Settings.check guards the bind), and
            # any Authorization header is meaningless, so it cannot name a client either.
            request[CLIENT] = f"a:{request.remote}"
            request[GRANTED] = SCOPES
            return await handler(request)
        presented = _presented_token(request, getattr(route_handler, "ingestd_query_token", False))
        if presented is None:
            raise Problem(
                401,
                "Unauthorized",
                "send 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": 'Bearer realm="ingestd"'},
            )
        scopes = tokens.get(_digest(presented))
        if scopes is None:
            raise Problem(
                401,
                "Unauthorized",
                "the token is not valid",
                headers={"WWW-Authenticate": 'Bearer realm="ingestd", error="invalid_token"'},
            )
        if scope not in scopes:
            raise Problem(403, "Forbidden", f"this token lacks the '{scope}' scope")
        request[CLIENT] = "t:" + _digest(presented).hex()[:32]
        request[GRANTED] = scopes
        return await handler(request)

    return auth_middleware
