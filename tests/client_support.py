"""Helpers for the client tests: a real HTTP proxy in front of ingestd that records what the
client sends and can misbehave on demand (503, dropped answers, hangs), and bounded polling.

Named test_client_* so it lives with the client's tests; it holds no tests itself."""

from __future__ import annotations

import gzip
import http.client
import http.server
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ingestd_client import IngestClient

T = TypeVar("T")


def wait_until(probe: Callable[[], T], timeout: float = 15.0, what: str = "condition") -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {value!r}")
        time.sleep(0.05)


def make_client(url: str, token: str, spool: Path, **options: Any) -> IngestClient:
    """A client tuned for tests: quick batches, quick backoff, its own spool."""
    settings: dict[str, Any] = {
        "flush_interval": 0.1,
        "backoff_base": 0.05,
        "backoff_max": 0.5,
        "request_timeout": 5.0,
        "close_timeout": 5.0,
        "heartbeat_interval": 0,
    }
    settings.update(options)
    return IngestClient(url, token, spool_dir=spool, **settings)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 0

    def events(self) -> list[dict[str, Any]]:
        raw = gzip.decompress(self.body) if self.body[:2] == b"\x1f\x8b" else self.body
        return [json.loads(line) for line in raw.splitlines() if line.strip()]


class FaultProxy:
    """Forwards to ingestd; ``plan`` holds actions for the next requests, in order:
    ``forward``, ``forward-drop`` (forward, then close the connection without answering:
    the client cannot know whether the batch was stored), ``hang`` (answer nothing until
    ``release`` is set), or a status code such as ``503`` (answered with ``Retry-After``)."""

    def __init__(self, target: str, retry_after: str = "0") -> None:
        self.target = urlsplit(target)
        self.retry_after = retry_after
        self.plan: deque[str] = deque()
        self.requests: list[Recorded] = []
        self.release = threading.Event()
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                proxy._handle(self)

            def do_GET(self) -> None:
                proxy._handle(self)

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def posts(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.method == "POST"]

    def _handle(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        record = Recorded(handler.command, handler.path, dict(handler.headers.items()), body)
        with self._lock:
            self.requests.append(record)
            action = self.plan.popleft() if self.plan else "forward"
        if action == "hang":
            self.release.wait(60)
            action = "forward"
        if action.isdigit():
            record.status = int(action)
            payload = json.dumps(
                {
                    "type": "about:blank",
                    "title": "test fault",
                    "status": record.status,
                    "detail": "injected",
                }
            ).encode()
            handler.send_response(record.status)
            handler.send_header("Content-Type", "application/problem+json")
            handler.send_header("Retry-After", self.retry_after)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
            return
        status, headers, answer = self._forward(handler, body)
        record.status = status
        if action == "forward-drop":
            handler.close_connection = True
            return
        handler.send_response(status)
        for name, value in headers:
            if name.lower() in ("content-type", "retry-after"):
                handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(answer)))
        handler.end_headers()
        handler.wfile.write(answer)

    def _forward(
        self, handler: http.server.BaseHTTPRequestHandler, body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        assert self.target.hostname is not None
        conn = http.client.HTTPConnection(self.target.hostname, self.target.port, timeout=30)
        try:
            headers = {
                k: v for k, v in handler.headers.items() if k.lower() not in ("host", "connection")
            }
            conn.request(handler.command, handler.path, body=body or None, headers=headers)
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()
