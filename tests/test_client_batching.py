"""Batching, compression and idempotency keys, against a real ingestd."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
from ingestd_client import IngestHandler

from tests.client_support import FaultProxy, make_client, wait_until


def count_logs(ingestd: Any, job: str) -> int:
    return int(ingestd.query("SELECT count(*) AS n FROM logs WHERE job = $1", job)[0]["n"])


def test_events_are_sent_in_gzipped_ndjson_batches_by_count(ingestd: Any, tmp_path: Path) -> None:
    proxy = FaultProxy(ingestd.url)
    client = make_client(
        proxy.url, ingestd.ingest_token, tmp_path / "spool", batch_max_events=10, flush_interval=60
    )
    try:
        for i in range(95):
            client.log(f"line {i}", job="batching")
        assert client.flush(10)
    finally:
        client.close()
        proxy.close()
    posts = proxy.posts()
    assert len(posts) == 10
    for post in posts:
        assert post.path == "/v1/events"
        assert post.headers["Content-Encoding"] == "gzip"
        assert post.headers["Content-Type"] == "application/x-ndjson"
        assert post.headers["Authorization"] == f"Bearer {ingestd.ingest_token}"
        assert post.status == 202
    assert [len(p.events()) for p in posts] == [10] * 9 + [5]
    assert len({p.headers["Idempotency-Key"] for p in posts}) == 10
    sent = [e["message"] for p in posts for e in p.events()]
    assert sent == [f"line {i}" for i in range(95)]
    wait_until(lambda: count_logs(ingestd, "batching") == 95, what="95 logs stored")
    assert client.stats().sent_events == 95


def test_batches_are_cut_by_size(ingestd: Any, tmp_path: Path) -> None:
    proxy = FaultProxy(ingestd.url)
    client = make_client(
        proxy.url, ingestd.ingest_token, tmp_path / "spool", batch_max_bytes=2000, flush_interval=60
    )
    try:
        for i in range(20):
            client.log(f"{i:03d} " + "x" * 400, job="by-size")
        assert client.flush(10)
    finally:
        client.close()
        proxy.close()
    posts = proxy.posts()
    assert len(posts) >= 4
    assert all(len(p.events()) <= 5 for p in posts)
    assert sum(len(p.events()) for p in posts) == 20
    wait_until(lambda: count_logs(ingestd, "by-size") == 20, what="20 logs stored")


def test_a_partial_batch_goes_out_after_the_interval_without_flush(
    ingestd: Any, tmp_path: Path
) -> None:
    client = make_client(ingestd.url, ingestd.ingest_token, tmp_path / "spool", flush_interval=0.2)
    try:
        client.log("lonely", job="interval")
        wait_until(lambda: count_logs(ingestd, "interval") == 1, what="the log to arrive")
    finally:
        client.close()


def test_handler_sends_source_error_and_extra_attrs(ingestd: Any, tmp_path: Path) -> None:
    client = make_client(
        ingestd.url, ingestd.ingest_token, tmp_path / "spool", wait_for_commit=True
    )
    logger = logging.getLogger("tests.client.fields")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(IngestHandler(client))

    class Opaque:
        def __repr__(self) -> str:
            return "<Opaque 7>"

    try:
        logger.info(
            "terminal %s done",
            "T-1",
            extra={"terminal": "T-1", "n": 3, "nested": {"a": [1, 2]}, "obj": Opaque()},
        )
        try:
            raise KeyError("profile-9")
        except KeyError:
            logger.exception("lookup failed")
        assert client.flush(10)
    finally:
        client.close()
        logger.handlers.clear()
    rows = ingestd.query(
        "SELECT * FROM logs WHERE source->>'logger' = $1 ORDER BY id", "tests.client.fields"
    )
    assert [r["message"] for r in rows] == ["terminal T-1 done", "lookup failed"]
    first, second = rows
    assert first["levelno"] == 20
    attrs = _json(first["attrs"])
    assert attrs == {"terminal": "T-1", "n": 3, "nested": {"a": [1, 2]}, "obj": "<Opaque 7>"}
    source = _json(first["source"])
    assert source["function"] == "test_handler_sends_source_error_and_extra_attrs"
    assert source["module"] == "test_client_batching"
    assert source["file"].endswith("test_client_batching.py")
    assert isinstance(source["line"], int) and source["pid"] > 0 and source["host"]
    error = _json(second["error"])
    assert second["levelno"] == 40
    assert error["type"] == "KeyError" and "profile-9" in error["message"]
    assert "raise KeyError" in error["stack"]


def _json(value: Any) -> Any:
    import json

    return json.loads(value) if isinstance(value, str) else value


@contextlib.contextmanager
def writer_held(dsn: str) -> Iterator[None]:
    """Hold ingestd's writer: its INSERT of each batch's idempotency key waits for the
    block to end (reads are not held), so accepted events are queued but not committed."""
    locked, release = threading.Event(), threading.Event()

    async def hold() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            async with conn.transaction():
                await conn.execute("LOCK TABLE idempotency_keys IN SHARE MODE")
                locked.set()
                await asyncio.to_thread(release.wait, 60)
        finally:
            await conn.close()

    thread = threading.Thread(target=asyncio.run, args=(hold(),), daemon=True)
    thread.start()
    assert locked.wait(15)
    try:
        yield
    finally:
        release.set()
        thread.join(15)


def test_flush_wait_commit_returns_once_the_events_are_readable(
    ingestd: Any, tmp_path: Path
) -> None:
    client = make_client(ingestd.url, ingestd.ingest_token, tmp_path / "spool")
    outcome: list[bool] = []
    with writer_held(ingestd.dsn):
        client.log("readable after flush", job="flush-commit")
        assert client.flush(10)  # delivered: ingestd has the events queued ...
        assert count_logs(ingestd, "flush-commit") == 0  # ... not yet in PostgreSQL
        waiter = threading.Thread(target=lambda: outcome.append(client.flush(10, wait_commit=True)))
        waiter.start()
        waiter.join(1.0)
        assert waiter.is_alive()  # it waits for the commit, not only for the delivery
    waiter.join(15)
    assert outcome == [True]
    assert count_logs(ingestd, "flush-commit") == 1  # readable at once, no polling
    assert client.flush(10, wait_commit=True)  # nothing new: True at once
    client.close()
