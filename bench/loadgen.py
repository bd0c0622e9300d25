"""bench/ingest.py's load generator: a minimal HTTP/1.1 client on asyncio protocols, one
request in flight per connection, in processes of its own. aiohttp's client costs several
times more CPU per request, and on a small machine the generator must not be what is
measured."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import signal
import time
from collections import Counter, deque
from collections.abc import Coroutine
from multiprocessing.connection import Connection
from typing import Any

import orjson


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine on uvloop when available, as ingestd itself does."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def http_requests(port: int, bodies: list[bytes], ctype: str, token: str | None) -> list[bytes]:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    head = f"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {ctype}\r\n{auth}"
    return [f"{head}Content-Length: {len(b)}\r\n\r\n".encode() + b for b in bodies]


class _Http(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request in flight (no pipelining); parses
    only the status line and Content-Length."""

    def __init__(self, load: _Load) -> None:
        self.load, self.buf, self.current = load, bytearray(), -1
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.load.send_next(self)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(buf[:end]).lower()
        at = head.find(b"content-length:")
        stop = head.find(b"\r\n", at)
        length = int(head[at + 15 : stop if stop > 0 else None]) if at >= 0 else 0
        if len(buf) >= end + 4 + length:
            body = bytes(buf[end + 4 : end + 4 + length])
            del buf[: end + 4 + length]
            self.load.on_response(self, int(head[9:12]), head, body)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.load.done.done():
            self.load.statuses[-1] += 1  # -1: connection lost
            self.load.idle()


class _Load:
    """Feeds the connections: each request once, 429/503 retried after Retry-After as a
    well-behaved client does (stop_at None), or cycling through them until stop_at."""

    def __init__(self, requests: list[bytes], stop_at: float | None, conns: int) -> None:
        self.requests, self.stop_at, self.active = requests, stop_at, conns
        self.todo = deque(range(len(requests)))
        self.sent = self.accepted = 0
        self.statuses: Counter[int] = Counter()
        self.done = asyncio.get_running_loop().create_future()

    def send_next(self, conn: _Http) -> None:
        if self.stop_at is not None and time.monotonic() < self.stop_at:
            conn.current = self.sent % len(self.requests)
        elif self.stop_at is None and self.todo:
            conn.current = self.todo.popleft()
        else:
            return self.idle()
        self.sent += 1
        conn.transport.write(self.requests[conn.current])

    def on_response(self, conn: _Http, status: int, head: bytes, body: bytes) -> None:
        self.statuses[status] += 1
        if status == 202:
            self.accepted += orjson.loads(body)["accepted"]
        elif status in (429, 503):
            at = head.find(b"retry-after:")
            delay = float(head[at + 12 :].split(b"\r\n")[0]) if at >= 0 else 1.0
            if self.stop_at is None:
                self.todo.appendleft(conn.current)
            asyncio.get_running_loop().call_later(delay, self.send_next, conn)
            return
        self.send_next(conn)

    def idle(self) -> None:
        self.active -= 1
        if self.active == 0 and not self.done.done():
            self.done.set_result(None)


async def _drive(port: int, requests: list[bytes], conns: int, seconds: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    t0 = time.monotonic()  # CLOCK_MONOTONIC is system-wide: comparable across processes
    load = _Load(requests, t0 + seconds if seconds else None, conns)
    for _ in range(conns):
        await loop.create_connection(lambda: _Http(load), "127.0.0.1", port)
    await asyncio.wait_for(load.done, 900)
    statuses = {str(k): v for k, v in load.statuses.items()}
    return {"t0": t0, "t1": time.monotonic(), "statuses": statuses, "accepted": load.accepted}


def _generator_main(pipe: Connection, port: int, reqs: list[bytes], conns: int, s: float) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and kills us
    pipe.send("ready")
    pipe.recv()  # "go"
    pipe.send(run(_drive(port, reqs, conns, s)))


class Generators:
    """Load-generator processes, ready (requests built) before the clock starts; killed by
    pid on the way out."""

    def __init__(self, port: int, lists: list[list[bytes]], conns: int, secs: float) -> None:
        ctx = mp.get_context("spawn")  # no fork of a process that holds loops and sockets
        self.procs: list[tuple[Any, Connection]] = []
        for reqs in lists:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_generator_main, args=(child, port, reqs, conns, secs))
            proc.daemon = True
            proc.start()
            self.procs.append((proc, parent))

    def __enter__(self) -> Generators:
        run(self.collect(120))  # "ready"
        return self

    def __exit__(self, *exc: object) -> None:
        for proc, _ in self.procs:
            if proc.is_alive():
                proc.kill()
            proc.join()

    def pids(self) -> list[int]:
        return [p.pid for p, _ in self.procs]

    def go(self) -> None:
        for _, pipe in self.procs:
            pipe.send("go")

    async def collect(self, within: float) -> list[Any]:
        """One message from each generator (polled, so Ctrl-C cancels the wait at once)."""
        deadline, out = time.monotonic() + within, []
        for proc, pipe in self.procs:
            while not pipe.poll():
                if not proc.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"load generator {proc.pid} died or hung")
                await asyncio.sleep(0.01)
            out.append(pipe.recv())
        return out
