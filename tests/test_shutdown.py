"""ingestd as a process: SIGTERM drains, the embedded PostgreSQL starts and stops with it."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from tests.conftest import IngestdProcess
from tests.pgcluster import pid_alive


def post(url: str, body: object, query: str = "") -> int:
    request = urllib.request.Request(
        f"{url}/v1/events{query}",
        data=orjson.dumps(body),
        headers={"Authorization": "Bearer ingest-token", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return int(answer.status)


def test_sigterm_drains_the_queue_and_exits_0(
    ingestd_factory: Callable[..., IngestdProcess],
) -> None:
    # A long batch wait keeps accepted events in memory until shutdown forces the drain.
    served = ingestd_factory(
        {"INGESTD_BATCH_MAX_WAIT_MS": "60000", "INGESTD_BATCH_MAX_EVENTS": "100000"}
    )
    for batch in range(10):
        assert post(served.url, [{"message": f"{batch}-{i}"} for i in range(100)]) == 202
    assert served.query("SELECT count(*) AS n FROM logs")[0]["n"] == 0
    assert served.stop(signal.SIGTERM, timeout=15) == 0
    assert served.query("SELECT count(*) AS n FROM logs")[0]["n"] == 1000
    assert "writer stopped: 1000 events committed" in served.log_path.read_text()


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Short and outside /root: the socket lives in the data dir (path length limit).
    path = Path(tempfile.mkdtemp(prefix="ig-emb-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def postmaster_pid(data_dir: Path) -> int | None:
    pid_file = data_dir / "pg" / "postmaster.pid"
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text().split()[0])
    return pid if pid_alive(pid) else None


def embedded(data_dir: Path, log: Path) -> IngestdProcess:
    process = IngestdProcess(
        dsn="",
        log_path=log,
        env={"INGESTD_DATABASE_URL": "", "INGESTD_DATA_DIR": str(data_dir)},
    )
    process.start()
    return process


def test_the_embedded_postgres_starts_and_stops_with_ingestd(
    data_dir: Path, tmp_path: Path
) -> None:
    served = embedded(data_dir, tmp_path / "ingestd.log")
    try:
        assert post(served.url, {"message": "kept"}, "?wait=commit") == 200
        pid = postmaster_pid(data_dir)
        assert pid is not None
        assert os.stat(f"/proc/{pid}").st_uid != 0 or os.getuid() != 0  # never root
    finally:
        assert served.stop(signal.SIGTERM) == 0
    assert not pid_alive(pid)
    # The data survives a restart.
    served = embedded(data_dir, tmp_path / "ingestd.log")
    try:
        assert post(served.url, {"message": "again"}, "?wait=commit") == 200
    finally:
        assert served.stop(signal.SIGTERM) == 0


def test_a_server_left_by_a_killed_ingestd_is_reattached_then_stopped(
    data_dir: Path, tmp_path: Path
) -> None:
    served = embedded(data_dir, tmp_path / "ingestd.log")
    assert served.proc is not None
    killed = served.proc.pid
    served.stop(signal.SIGKILL)
    leftover = postmaster_pid(data_dir)
    assert leftover is not None  # SIGKILL gives no chance to stop it
    served = embedded(data_dir, tmp_path / "ingestd.log")
    try:
        assert postmaster_pid(data_dir) == leftover  # reattached, not a second server
        assert f"reattached (left running by pid(s) [{killed}]" in served.log_path.read_text()
        assert post(served.url, {"message": "after the kill"}, "?wait=commit") == 200
    finally:
        assert served.stop(signal.SIGTERM) == 0
    assert not pid_alive(leftover)
