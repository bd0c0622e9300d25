"""ingestd away: the caller is unharmed, batches go to the spool, and are replayed in order
once ingestd is back (by the same process or the next one), exactly once."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import textwrap
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from ingestd_client.spool import Spool

from tests.client_support import FaultProxy, make_client, wait_until


def stored(ingestd: Any, job: str) -> list[str]:
    rows = ingestd.query("SELECT message FROM logs WHERE job = $1 ORDER BY ts, id", job)
    return [r["message"] for r in rows]


def spooled(spool: Path) -> list[Path]:
    return sorted(spool.glob("*.ndjson.gz"))


def test_down_then_up_spools_then_replays_everything_once_in_order(
    ingestd: Any, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    client = make_client(ingestd.url, ingestd.ingest_token, spool, batch_max_events=50)
    try:
        client.log("before", job="outage")
        assert client.flush(10)
        assert ingestd.stop() == 0

        started = time.perf_counter()
        with client.run("outage", trigger="cron") as run:
            for i in range(500):
                client.log(f"during {i}")
                run.count(items=1)
        elapsed = time.perf_counter() - started
        assert elapsed < 1.0, f"logging took {elapsed:.2f}s while ingestd was down"

        assert not client.flush(1.0)
        assert client.stats().spooling
        assert spooled(spool)

        ingestd.start()
        assert client.flush(20)
    finally:
        client.close()
    assert not spooled(spool)
    wait_until(lambda: len(stored(ingestd, "outage")) >= 501, what="501 logs")
    assert stored(ingestd, "outage") == ["before"] + [f"during {i}" for i in range(500)]
    [row] = ingestd.query(
        "SELECT status, counters::text AS counters FROM runs WHERE run_id = $1",
        uuid.UUID(run.run_id),
    )
    assert row["status"] == "success"
    assert json.loads(row["counters"]) == {"items": 500}
    stats = client.stats()
    assert stats.dropped_events == 0 and stats.replayed_batches == stats.spooled_batches


SCRIPT = """
import sys, time
from ingestd_client import IngestClient
client = IngestClient(sys.argv[1], "t", spool_dir=sys.argv[2], flush_interval=0.05,
                      close_timeout=1.0, backoff_base=0.05)
with client.run("next-process") as run:
    for i in range(300):
        client.log(f"line {i}")
print("done", flush=True)
"""


def test_the_next_process_replays_the_spool_left_by_one_that_exited(
    ingestd: Any, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    ingestd.stop()
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, ingestd.url, str(spool)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "done\n"
    assert time.monotonic() - started < 10
    assert "spooling to" in done.stderr
    assert spooled(spool)

    ingestd.start()
    client = make_client(ingestd.url, ingestd.ingest_token, spool)
    try:
        wait_until(lambda: not spooled(spool), what="the spool to drain")
        assert client.flush(10)
    finally:
        client.close()
    wait_until(lambda: len(stored(ingestd, "next-process")) == 300, what="300 logs")
    assert stored(ingestd, "next-process") == [f"line {i}" for i in range(300)]
    assert ingestd.query("SELECT status FROM runs WHERE job = 'next-process'") == [
        {"status": "success"}
    ]


def test_a_spooled_batch_whose_first_send_did_arrive_is_not_stored_twice(
    ingestd: Any, tmp_path: Path
) -> None:
    # The process died after sending and before deleting the file: the replay repeats the
    # batch under its original idempotency key.
    spool_dir = tmp_path / "spool"
    key = uuid.uuid4().hex
    body = gzip.compress(b'{"message":"only once","job":"crash"}\n')
    Spool(spool_dir, 10**9).write(key, body)
    request = urllib.request.Request(
        ingestd.url + "/v1/events?wait=commit",
        data=body,
        method="POST",
        headers={
            "Authorization": f"Bearer {ingestd.ingest_token}",
            "Idempotency-Key": key,
            "Content-Type": "application/x-ndjson",
            "Content-Encoding": "gzip",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status in (200, 202)

    client = make_client(ingestd.url, ingestd.ingest_token, spool_dir)
    try:
        wait_until(lambda: not spooled(spool_dir), what="the replay")
        assert client.flush(10)
    finally:
        client.close()
    assert client.stats().duplicate_batches == 1
    assert stored(ingestd, "crash") == ["only once"]


def test_a_full_buffer_drops_the_newest_log_events_and_counts_them(
    ingestd: Any, tmp_path: Path
) -> None:
    proxy = FaultProxy(ingestd.url)
    proxy.plan.append("hang")
    client = make_client(
        proxy.url,
        ingestd.ingest_token,
        tmp_path / "spool",
        max_queue=50,
        batch_max_events=10,
        request_timeout=30,
    )
    try:
        client.log("first", job="full")
        wait_until(lambda: proxy.posts(), what="the first batch to be in flight")
        started = time.perf_counter()
        for i in range(200):
            client.log(f"burst {i}", job="full")
        assert time.perf_counter() - started < 0.5  # never waits for room
        assert client.dropped == 150
        proxy.release.set()
        assert client.flush(15)
    finally:
        client.close()
        proxy.close()
    wait_until(lambda: len(stored(ingestd, "full")) == 51, what="51 logs")
    assert stored(ingestd, "full") == ["first"] + [f"burst {i}" for i in range(50)]
    notice = ingestd.query(
        "SELECT levelno, attrs FROM logs WHERE message LIKE 'ingestd-client dropped%'"
    )
    assert len(notice) == 1 and notice[0]["levelno"] == 30
    assert "150" in str(notice[0]["attrs"])
    assert client.stats().dropped_events == 150


def test_close_is_bounded_when_ingestd_hangs_and_nothing_is_lost(
    ingestd: Any, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    proxy = FaultProxy(ingestd.url)
    proxy.plan.extend(["hang"] * 10)
    client = make_client(proxy.url, ingestd.ingest_token, spool, request_timeout=30)
    for i in range(100):
        client.log(f"hung {i}", job="hung")
    wait_until(lambda: proxy.posts(), what="a request in flight")
    started = time.monotonic()
    client.close(timeout=1.0)
    assert time.monotonic() - started < 1.5
    assert spooled(spool)
    proxy.release.set()  # the hung request may now be stored too: the replay deduplicates
    proxy.close()

    replayer = make_client(ingestd.url, ingestd.ingest_token, spool)
    try:
        wait_until(lambda: not spooled(spool), what="the replay")
        assert replayer.flush(10)
    finally:
        replayer.close()
    wait_until(lambda: len(stored(ingestd, "hung")) >= 100, what="100 logs")
    assert stored(ingestd, "hung") == [f"hung {i}" for i in range(100)]


def test_at_exit_pending_events_are_flushed(ingestd: Any, tmp_path: Path) -> None:
    script = textwrap.dedent("""
        import sys
        from ingestd_client import IngestClient
        client = IngestClient(sys.argv[1], sys.argv[2], spool_dir=sys.argv[3],
                              flush_interval=60)
        for i in range(10):
            client.log(f"at exit {i}", job="atexit")
    """)
    done = subprocess.run(
        [sys.executable, "-c", script, ingestd.url, ingestd.ingest_token, str(tmp_path / "s")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert not spooled(tmp_path / "s")
    wait_until(lambda: len(stored(ingestd, "atexit")) == 10, what="10 logs")
