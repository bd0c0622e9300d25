"""Request bodies: gzip, then one JSON object, a JSON array, or NDJSON lines.

The result is a list of (index, decoded value or the reason it could not be decoded), so
one malformed NDJSON line costs only itself.
"""

from __future__ import annotations

import asyncio
import zlib
from typing import Any

import orjson
from aiohttp import web

from ingestd.http.problems import Problem
from ingestd.settings import SETTINGS

NDJSON_TYPES = frozenset(
    {"application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"}
)
# What curl and shell scripts send by default is taken as JSON too.
JSON_TYPES = frozenset(
    {"application/json", "application/x-www-form-urlencoded", "text/plain", "",
     "application/octet-stream"}
)  # fmt: skip
BOM = b"\xef\xbb\xbf"


class Undecodable(str):
    """The reason one line could not be decoded."""


Item = tuple[int, Any]


async def read_body(request: web.Request, max_bytes: int) -> bytes:
    """The body, gunzipped if sent so; 413 past max_bytes before or after decompression."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise Problem(413, "Payload Too Large", f"the body is larger than {max_bytes} bytes")
    body = await _read_in_time(request)
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        return _inflate(body, max_bytes, 16 + zlib.MAX_WBITS, "gzip")
    if encoding == "deflate":
        return _inflate(body, max_bytes, zlib.MAX_WBITS, "deflate")
    if encoding not in ("identity", ""):
        raise Problem(
            415,
            "Unsupported Media Type",
            f"Content-Encoding {encoding!r}: send gzip, deflate or identity",
        )
    return body


async def _read_in_time(request: web.Request) -> bytes:
    """The raw body, or 408 if it is not all in within INGESTD_BODY_TIMEOUT_S.

    aiohttp's keep-alive timer bounds only the head: a body sent a byte a second would hold
    the handler for as long as the sender likes.
    """
    if request.content.is_eof():  # all in already, the usual case: no timer to arm
        return await request.read()  # aiohttp enforces client_max_size while reading
    timeout_s = request.app[SETTINGS].body_timeout_s
    try:
        async with asyncio.timeout(timeout_s):
            return await request.read()
    except TimeoutError:
        raise Problem(
            408,
            "Request Timeout",
            f"the body was not all sent within {timeout_s:g} s (INGESTD_BODY_TIMEOUT_S)",
            close=True,  # the rest of the body is unread: the connection cannot be reused
        ) from None


def _inflate(body: bytes, max_bytes: int, wbits: int, name: str) -> bytes:
    inflater = zlib.decompressobj(wbits)
    try:
        data = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise Problem(400, "Bad Request", f"the {name} body is corrupt: {exc}") from None
    if len(data) > max_bytes or inflater.unconsumed_tail:
        raise Problem(413, "Payload Too Large", f"the body inflates to more than {max_bytes} bytes")
    if not inflater.eof:
        raise Problem(400, "Bad Request", f"the {name} body is truncated")
    return data


def content_kind(request: web.Request) -> str:
    """'ndjson' or 'json', or 415 for a type that is neither."""
    ctype = request.content_type.lower() if request.headers.get("Content-Type") else ""
    if ctype in NDJSON_TYPES:
        return "ndjson"
    if ctype in JSON_TYPES or ctype.endswith("+json"):
        return "json"
    raise Problem(
        415,
        "Unsupported Media Type",
        f"Content-Type {ctype!r}: send application/json or application/x-ndjson",
    )


def decode(body: bytes, kind: str) -> list[Item]:
    if body.startswith(BOM):
        body = body[len(BOM) :]
    if not body.strip():
        raise Problem(400, "Bad Request", "the body is empty: send a JSON object, array or NDJSON")
    if kind == "ndjson":
        return _lines(body)
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        # Many senders post NDJSON as application/json: take it as such if it has lines.
        if body.strip().count(b"\n"):
            items = _lines(body)
            if any(not isinstance(v, Undecodable) for _, v in items):
                return items
        raise Problem(400, "Bad Request", f"the body is not valid JSON: {exc}") from None
    if type(value) is list:
        return list(enumerate(value))
    return [(0, value)]


def _lines(body: bytes) -> list[Item]:
    lines = body.split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # the usual final newline
    if all(lines):
        # The common case, every line an object: one parse of them all as an array is
        # cheaper than one parse per line. Any error: fall back to line by line.
        try:
            values = orjson.loads(b"[" + b",".join(lines) + b"]")
        except orjson.JSONDecodeError:
            pass
        else:
            if len(values) == len(lines):  # a line like '1, 2' would join into two values
                return list(enumerate(values))
    items: list[Item] = []
    for number, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            items.append((number, orjson.loads(line)))
        except orjson.JSONDecodeError as exc:
            # The parser saw the line alone and says "line 1": name the line of the body
            # instead (counted from 1, as editors do; the index counts from 0).
            where = f"line {number + 1} (index {number})"
            reason = f"{where} is not valid JSON: {exc.msg} at column {exc.colno}"
            items.append((number, Undecodable(reason)))
    return items
