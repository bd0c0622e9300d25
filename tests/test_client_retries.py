"""Retries: backoff honouring Retry-After, one idempotency key per batch, no duplicates,
and batches ingestd refuses as bad are not retried forever."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.client_support import FaultProxy, make_client, wait_until


def stored(ingestd: Any, job: str) -> list[str]:
    rows = ingestd.query("SELECT message FROM logs WHERE job = $1 ORDER BY ts, id", job)
    return [r["message"] for r in rows]


def committed(ingestd: Any, job: str, count: int) -> list[str]:
    """The job's lines once `count` are in: a 202 answers before the writer commits."""

    def enough() -> list[str]:
        rows = stored(ingestd, job)
        return rows if len(rows) >= count else []

    return wait_until(enough, what=f"{count} lines of {job}")


@pytest.mark.parametrize("status", ["503", "429"])
def test_busy_answers_are_retried_after_retry_after_with_the_same_key(
    ingestd: Any, tmp_path: Path, status: str
) -> None:
    proxy = FaultProxy(ingestd.url, retry_after="1")
    proxy.plan.extend([status, status])
    client = make_client(
        proxy.url, ingestd.ingest_token, tmp_path / "spool", backoff_max=5, max_attempts=5
    )
    try:
        for i in range(5):
            client.log(f"busy {i}", job="busy")
        started = time.monotonic()
        assert client.flush(15)
        elapsed = time.monotonic() - started
    finally:
        client.close()
        proxy.close()
    posts = proxy.posts()
    assert [p.status for p in posts] == [int(status), int(status), 202]
    assert len({p.headers["Idempotency-Key"] for p in posts}) == 1
    assert elapsed >= 1.9  # two waits of Retry-After: 1
    assert client.stats().retries == 2
    assert committed(ingestd, "busy", 5) == [f"busy {i}" for i in range(5)]
    assert not list((tmp_path / "spool").glob("*.ndjson.gz"))


def test_an_answer_lost_after_storing_is_retried_without_duplicates(
    ingestd: Any, tmp_path: Path
) -> None:
    proxy = FaultProxy(ingestd.url)
    proxy.plan.extend(["forward-drop", "forward-drop"])  # stored twice over, answered never
    client = make_client(
        proxy.url, ingestd.ingest_token, tmp_path / "spool", max_attempts=5, wait_for_commit=True
    )
    try:
        for i in range(20):
            client.log(f"once {i}", job="exactly-once")
        assert client.flush(15)
    finally:
        client.close()
        proxy.close()
    posts = proxy.posts()
    assert len(posts) == 3
    assert len({p.headers["Idempotency-Key"] for p in posts}) == 1
    assert client.stats().duplicate_batches == 1
    assert committed(ingestd, "exactly-once", 20) == [f"once {i}" for i in range(20)]


def test_a_refused_batch_is_not_retried_and_is_kept_aside(
    ingestd: Any, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    proxy = FaultProxy(ingestd.url)
    client = make_client(proxy.url, "not-a-token", tmp_path / "spool")
    try:
        client.log("nobody hears this", job="refused")
        client.log("nor this", job="refused")
        assert client.flush(10)
        client.log("a second batch", job="refused")
        assert client.flush(10)
    finally:
        client.close()
        proxy.close()
    assert [p.status for p in proxy.posts()] == [401, 401]
    stats = client.stats()
    assert stats.bad_batches == 2 and stats.dead_events == 3
    dead = sorted((tmp_path / "spool" / "dead").glob("*.ndjson.gz"))
    assert len(dead) == 2
    assert "401" in dead[0].with_name(dead[0].name + ".reason").read_text()
    err = capfd.readouterr().err
    assert err.count("ingestd refused a batch") == 1  # said once, not per batch
    assert stored(ingestd, "refused") == []


def test_rejected_events_in_an_accepted_batch_are_counted(ingestd: Any, tmp_path: Path) -> None:
    client = make_client(
        ingestd.url, ingestd.ingest_token, tmp_path / "spool", wait_for_commit=True
    )
    try:
        client.log("fine", job="partly")
        client.log("bad level", level="loud", job="partly")
        client.log("fine too", job="partly")
        assert client.flush(10)
    finally:
        client.close()
    stats = client.stats()
    assert stats.rejected_events == 1
    assert stats.sent_events == 3
    assert stored(ingestd, "partly") == ["fine", "fine too"]


def test_a_batch_too_large_for_the_server_is_split(ingestd_factory: Any, tmp_path: Path) -> None:
    server = ingestd_factory({"INGESTD_MAX_BODY_BYTES": "20000"})
    client = make_client(
        server.url, server.ingest_token, tmp_path / "spool", flush_interval=60, gzip_level=0
    )
    try:
        for i in range(40):
            client.log(f"{i:02d} " + "y" * 1000, job="split")
        assert client.flush(15)
    finally:
        client.close()
    wait_until(lambda: len(stored(server, "split")) == 40, what="all 40 logs")
    assert client.stats().bad_batches == 0
