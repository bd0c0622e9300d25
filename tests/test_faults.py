"""Faults, for real: PostgreSQL stopped, hung and absent; ingestd killed; the spool full.

Each test streams uniquely numbered events, keeps the ones ingestd acknowledged, and checks
that exactly those (no fewer, no duplicates) end up in PostgreSQL.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import orjson
import pytest

from tests.conftest import IngestdProcess
from tests.pgcluster import ThrowawayCluster

BATCH = 20


@pytest.fixture
def cluster() -> Iterator[ThrowawayCluster]:
    """A PostgreSQL of this test's own, to stop, hang and restart."""
    base = Path(tempfile.mkdtemp(prefix="ig-fault-"))
    own = ThrowawayCluster.from_env(base)
    if not own.can_control:
        pytest.skip("needs a PostgreSQL this suite controls")
    yield own
    own.destroy()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def start_ingestd(
    cluster: ThrowawayCluster, tmp_path: Path
) -> Iterator[Callable[..., IngestdProcess]]:
    started: list[IngestdProcess] = []

    def start(**env: str) -> IngestdProcess:
        process = IngestdProcess(cluster.dsn, tmp_path / "ingestd.log", env=env)
        process.start()
        started.append(process)
        return process

    yield start
    for process in started:
        if process.proc is not None and process.proc.poll() is None:
            process.stop(signal.SIGKILL)


class Stream:
    """Posts numbered events from a thread; remembers what was acknowledged."""

    def __init__(self, url: str, prefix: str = "e") -> None:
        self.url = url
        self.prefix = prefix
        self.acked: list[str] = []
        self.statuses: Counter[int] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._next = 0

    def __enter__(self) -> Stream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        deadline = time.monotonic() + 120  # bounded, whatever happens
        while not self._stop.is_set() and time.monotonic() < deadline:
            ids = [f"{self.prefix}{self._next + i}" for i in range(BATCH)]
            self._next += BATCH
            status = post(self.url, [{"message": m, "job": "stream"} for m in ids])
            self.statuses[status] += 1
            if status in (200, 202):
                self.acked += ids
            else:
                time.sleep(0.05)
            time.sleep(0.01)

    def wait_for(self, count: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acked) < count:
            assert time.monotonic() < deadline, f"only {len(self.acked)} acknowledged"
            time.sleep(0.02)


def post(url: str, events: list[dict[str, str]], query: str = "") -> int:
    request = urllib.request.Request(
        f"{url}/v1/events{query}",
        data=orjson.dumps(events),
        headers={"Authorization": "Bearer ingest-token", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0  # connection refused or reset: not acknowledged


def stored(process: IngestdProcess) -> Counter[str]:
    try:
        rows = process.query("SELECT message FROM logs WHERE job = 'stream'")
    except asyncpg.UndefinedTableError:
        return Counter()  # the database just appeared: ingestd has not migrated it yet
    return Counter(r["message"] for r in rows)


def wait_until_stored(process: IngestdProcess, acked: list[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        have = stored(process)
        missing = [m for m in acked if m not in have]
        if not missing:
            break
        assert time.monotonic() < deadline, f"{len(missing)} acknowledged events missing"
        time.sleep(0.2)
    duplicated = [m for m, n in have.items() if n > 1]
    assert not duplicated, f"stored twice: {duplicated[:5]}"


def test_postgres_stopped_for_10s_mid_stream_loses_and_duplicates_nothing(
    cluster: ThrowawayCluster, start_ingestd: Callable[..., IngestdProcess]
) -> None:
    served = start_ingestd(INGESTD_RETRY_MAX_BACKOFF_S="0.5")
    with Stream(served.url) as stream:
        stream.wait_for(200)
        cluster.stop_server()
        time.sleep(10)
        cluster.start_server()
        stream.wait_for(len(stream.acked) + 200)
    assert stream.statuses[202] > 0
    wait_until_stored(served, stream.acked)


def test_sigkill_under_load_in_spool_mode_keeps_every_acknowledged_event(
    start_ingestd: Callable[..., IngestdProcess],
) -> None:
    served = start_ingestd(INGESTD_DURABILITY="spool")
    with Stream(served.url) as stream:
        stream.wait_for(1000)
        served.stop(signal.SIGKILL)
        time.sleep(0.3)  # the stream keeps trying; nothing is acknowledged meanwhile
    served.start()  # same data dir: the spool is read back
    wait_until_stored(served, stream.acked)
    assert stream.statuses[202] > 0


def test_sigterm_while_postgres_hangs_in_spool_mode_keeps_every_acknowledged_event(
    cluster: ThrowawayCluster, start_ingestd: Callable[..., IngestdProcess]
) -> None:
    # The drain budget runs out with batches in flight: they are abandoned uncommitted and
    # their spool records stay for the next start. A regression: the cancelled writer waited
    # forever for the hung server to roll back, so ingestd never exited.
    served = start_ingestd(INGESTD_DURABILITY="spool", INGESTD_SHUTDOWN_BUDGET_S="2")
    with Stream(served.url) as stream:
        stream.wait_for(300)
        cluster.pause()
        try:
            stream.wait_for(len(stream.acked) + 200)  # acknowledged: on the spool only
            stream.stop()
            assert served.stop(signal.SIGTERM, timeout=20) == 0
        finally:
            cluster.resume()
    served.start()  # same data dir: the spool is read back
    wait_until_stored(served, stream.acked)


def test_sigterm_under_load_drains_and_exits_0(
    start_ingestd: Callable[..., IngestdProcess],
) -> None:
    served = start_ingestd()
    with Stream(served.url) as stream:
        stream.wait_for(1000)
        assert served.stop(signal.SIGTERM, timeout=15) == 0
    # Query the database directly: ingestd is gone and must have written everything first.
    have = stored(served)
    assert all(m in have for m in stream.acked)
    assert max(have.values()) == 1


def test_postgres_hung_gives_503_in_bounded_time_then_resumes(
    cluster: ThrowawayCluster, start_ingestd: Callable[..., IngestdProcess]
) -> None:
    served = start_ingestd(
        INGESTD_SPOOL_MAX_BYTES="65536",
        INGESTD_QUEUE_MAX_EVENTS="200",
        INGESTD_COMMIT_WAIT_S="2",
    )
    assert post(served.url, [{"message": "before", "job": "stream"}], "?wait=commit") == 200
    cluster.pause()
    try:
        started = time.monotonic()
        assert post(served.url, [{"message": "hung", "job": "stream"}], "?wait=commit") == 503
        assert time.monotonic() - started < 5
        with Stream(served.url) as stream:
            deadline = time.monotonic() + 20
            while stream.statuses[503] == 0:
                assert time.monotonic() < deadline, "never refused while the database hung"
                time.sleep(0.05)
    finally:
        cluster.resume()
    wait_until_stored(served, [*stream.acked, "before", "hung"])
    assert post(served.url, [{"message": "after", "job": "stream"}], "?wait=commit") == 200


def test_a_full_spool_refuses_then_recovers_without_corruption(
    cluster: ThrowawayCluster, start_ingestd: Callable[..., IngestdProcess]
) -> None:
    served = start_ingestd(
        INGESTD_SPOOL_MAX_BYTES="32768",
        INGESTD_QUEUE_MAX_EVENTS="100",
        INGESTD_RETRY_MAX_BACKOFF_S="0.3",
    )
    cluster.stop_server()
    with Stream(served.url) as stream:
        deadline = time.monotonic() + 20
        while stream.statuses[503] < 3:
            assert time.monotonic() < deadline, "a full spool never answered 503"
            time.sleep(0.05)
        refused_at = len(stream.acked)
        cluster.start_server()
        stream.wait_for(refused_at + 200)  # room again once the backlog is written
    wait_until_stored(served, stream.acked)


def test_the_database_down_at_start_then_appearing(
    cluster: ThrowawayCluster, tmp_path: Path
) -> None:
    cluster.stop_server()
    process = IngestdProcess(
        cluster.dsn, tmp_path / "ingestd.log", env={"INGESTD_DURABILITY": "spool"}
    )
    with pytest.raises(RuntimeError, match="not ready"):
        process.start_timeout = 3.0
        process.start()
    try:
        with urllib.request.urlopen(process.url + "/healthz", timeout=5) as answer:
            assert answer.status == 200  # alive, though not ready
        try:
            urllib.request.urlopen(process.url + "/readyz", timeout=5)
        except urllib.error.HTTPError as exc:
            assert exc.code == 503
            assert "database" in orjson.loads(exc.read())["detail"]
        else:
            pytest.fail("ready without a database")
        acked = []
        for batch in range(5):
            ids = [f"early{batch}-{i}" for i in range(BATCH)]
            assert post(process.url, [{"message": m, "job": "stream"} for m in ids]) == 202
            acked += ids
        cluster.start_server()
        wait_until_stored(process, acked)
    finally:
        process.stop(signal.SIGTERM)
