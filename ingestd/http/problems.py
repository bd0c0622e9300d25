"""Errors as application/problem+json (RFC 9457): never an HTML page, never a trace."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any

import orjson
from aiohttp import web

log = logging.getLogger("ingestd.http")

PROBLEM_TYPE_BASE = "https://ingestd.dev/problems/"
CONTENT_TYPE = "application/problem+json"


class Problem(Exception):
    """Raise from a handler to answer with a problem document."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        errors: list[Any] | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
        close: bool = False,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})
        self.close = close


def bad_param(name: str, detail: str) -> Problem:
    return Problem(400, "Invalid parameter", f"{name}: {detail}", extra={"parameter": name})


def problem_response(problem: Problem) -> web.Response:
    slug = problem.title.lower().replace(" ", "-")
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + slug,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
    }
    if problem.errors is not None:
        body["errors"] = problem.errors
    body.update(problem.extra)
    response = web.Response(
        status=problem.status,
        body=orjson.dumps(body),
        content_type=CONTENT_TYPE,
        headers=problem.headers,
    )
    if problem.close:
        response.force_close()
    return response


def _from_http_exception(exc: web.HTTPException) -> Problem:
    status = exc.status
    title = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    detail = exc.text if exc.text and not exc.text.startswith(f"{status}:") else title
    headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")}
    return Problem(status, title, detail, headers=headers)


@web.middleware
async def problem_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except Problem as problem:
        response = problem_response(problem)
        if problem.close:
            # Sent now and the connection closed: left to aiohttp, a request whose body is
            # unread keeps its connection reading the rest for up to 10 s ("lingering").
            await response.prepare(request)
            await response.write_eof()
            request.protocol.force_close()
        return response
    except web.HTTPRequestEntityTooLarge as exc:
        return problem_response(
            Problem(413, "Payload Too Large", exc.text or "the body is larger than allowed")
        )
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return problem_response(_from_http_exception(exc))
    except (ConnectionResetError, TimeoutError):
        raise
    except Exception:
        # A bug: log it with its trace, answer without one.
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem_response(
            Problem(500, "Internal Server Error", "ingestd failed to handle this request")
        )
