"""Requests aiohttp refuses before any handler runs, answered as problem+json too.

A request line or header past aiohttp's limits, a malformed head, too many headers: the
parser fails, and aiohttp answers from `RequestHandler.handle_error` (text/plain), which no
middleware sees. aiohttp has no hook for that answer (aio-libs/aiohttp#3287), so the
listener builds its connection handlers from this subclass, which answers those errors,
and the rare error a middleware let through, as problem documents.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from ingestd.http.problems import Problem, problem_response

log = logging.getLogger("ingestd.http")

# aiohttp reports a URL and a header field too long with the same exception, naming only
# the limit: so the two limits differ by a byte, and the limit named says which it was.
MAX_REQUEST_LINE = 8192
MAX_HEADER_FIELD = 8190
MAX_HEADERS = 128  # aiohttp's default, said here so the answer can name it
HANDLER_LIMITS = {
    "max_line_size": MAX_REQUEST_LINE,
    "max_field_size": MAX_HEADER_FIELD,
    "max_headers": MAX_HEADERS,
}


def problem_for(status: int, exc: BaseException | None) -> Problem:
    """The problem document for an error aiohttp caught itself."""
    if isinstance(exc, LineTooLong):
        limit = exc.args[1] if len(exc.args) > 1 else None
        if limit == MAX_REQUEST_LINE:
            return Problem(414, "URI Too Long", f"the request target is longer than {limit} bytes")
        return Problem(
            431,
            "Request Header Fields Too Large",
            f"a header field is longer than {MAX_HEADER_FIELD} bytes (name and value)",
        )
    if isinstance(exc, BadHttpMessage) and "Too many headers" in exc.message:
        return Problem(
            431, "Request Header Fields Too Large", f"more than {MAX_HEADERS} header fields"
        )
    if isinstance(exc, BadHttpMessage) or 400 <= status < 500:
        message = exc.message if isinstance(exc, BadHttpMessage) else ""
        title = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        detail = f"the request is not valid HTTP: {message}" if message else title
        return Problem(status if 400 <= status < 500 else 400, title, detail)
    if status == 504:
        return Problem(504, "Gateway Timeout", "ingestd timed out handling this request")
    return Problem(500, "Internal Server Error", "ingestd failed to handle this request")


class ProblemRequestHandler(RequestHandler):
    """aiohttp's connection handler, answering its own errors as problem documents."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        problem = problem_for(status, exc)
        if problem.status >= 500:
            # aiohttp's own first: it logs the trace, and refuses (ConnectionError) if the
            # response has already begun.
            super().handle_error(request, status, exc, message)
        else:
            # The sender's fault, and hostile traffic sends it by the thousand: one line.
            log.info("refused a malformed request from %s: %s", request.remote, problem.detail)
            if request.writer.output_size > 0:
                raise ConnectionError("the response has begun; no problem document can follow")
        response = problem_response(problem)
        response.force_close()  # as aiohttp does: the stream may be out of step
        return response
