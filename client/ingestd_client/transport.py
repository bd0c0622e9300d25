"""One HTTP POST of a gzip'd NDJSON batch to ``/v1/events``, and what its answer means."""

from __future__ import annotations

import email.utils
import http.client
import json
import ssl
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .version import __version__

USER_AGENT = f"ingestd-client/{__version__}"

# Statuses after which the same batch is tried again; other 4xx mean the batch is bad.
RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})


class Unreachable(Exception):
    """The request did not get an answer: connection refused, reset, timed out ..."""


@dataclass
class Answer:
    status: int
    retry_after: float | None = None
    accepted: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    duplicate: bool = False
    detail: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        return self.status in RETRYABLE or self.status >= 500


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class Transport:
    """Keeps one keep-alive connection; used by a single thread at a time."""

    def __init__(self, url: str, token: str | None, wait_for_commit: bool = False) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"ingestd URL must be http(s)://host[:port][/prefix], got {url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self.path = (
            parts.path.rstrip("/") + "/v1/events" + ("?wait=commit" if wait_for_commit else "")
        )
        self._headers = {
            "Content-Type": "application/x-ndjson",
            "Content-Encoding": "gzip",
            "User-Agent": USER_AGENT,
        }
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._conn: http.client.HTTPConnection | None = None

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(
                self._host, self._port, timeout=timeout, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def post(self, body: bytes, key: str, timeout: float) -> Answer:
        """POST one gzip'd batch with its idempotency key; raises :class:`Unreachable`."""
        headers = dict(self._headers, **{"Idempotency-Key": key})
        reused = self._conn is not None
        try:
            return self._post_once(body, headers, timeout)
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
            # A kept-alive connection the server closed meanwhile: one fresh try is safe,
            # the idempotency key makes a repeat harmless.
            if not reused:
                raise Unreachable(f"{type(exc).__name__}: {exc}") from None
        except (OSError, http.client.HTTPException) as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc}") from None
        try:
            return self._post_once(body, headers, timeout)
        except (OSError, http.client.HTTPException) as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc}") from None

    def _post_once(self, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
        if self._conn is None:
            self._conn = self._connect(timeout)
        conn = self._conn
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        try:
            conn.request("POST", self.path, body=body, headers=headers)
            response = conn.getresponse()
            raw = response.read()
        except BaseException:
            self.close()
            raise
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        return self._answer(response, raw)

    @staticmethod
    def _answer(response: http.client.HTTPResponse, raw: bytes) -> Answer:
        answer = Answer(
            status=response.status,
            retry_after=parse_retry_after(response.getheader("Retry-After")),
        )
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        if answer.ok:
            accepted = data.get("accepted", 0)
            answer.accepted = accepted if isinstance(accepted, int) else 0
            rejected = data.get("rejected") or []
            answer.rejected = rejected if isinstance(rejected, list) else []
            answer.duplicate = bool(data.get("duplicate", False))
        else:
            detail = data.get("detail") or data.get("title") or raw[:300].decode("utf-8", "replace")
            answer.detail = str(detail)
        return answer


def committed(url: str, token: str | None, key: str, body: bytes, timeout: float) -> bool:
    """Whether a batch ingestd acknowledged is committed, waiting for it at most ``timeout``:
    the batch is sent again with its key and ``?wait=commit``, which ingestd stores once and
    answers once the original is in PostgreSQL. A transport of its own, so any thread may
    ask while the sender keeps its connection."""
    if timeout <= 0:
        return False
    transport = Transport(url, token, wait_for_commit=True)
    try:
        return transport.post(body, key, timeout).ok
    except Unreachable:
        return False
    finally:
        transport.close()
