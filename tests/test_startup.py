"""`ingestd serve` starting, for real: a stop signal while starting (also as a container's
PID 1), a data dir taken or not writable, and the start after a SIGKILL.

The embedded PostgreSQL takes seconds to start, so the tests that need one share a data dir.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ingestd import cli, startup
from ingestd.settings import Settings
from tests.conftest import TOKENS_TEXT, IngestdProcess, dsn_for
from tests.pgcluster import ThrowawayCluster, pid_alive

pytestmark = pytest.mark.timeout(180)

REPO = Path(__file__).resolve().parents[1]
#: Own pid and mount namespaces: ingestd is PID 1 there and takes its postgres down with it,
#: as in a container.
AS_PID_1 = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"]


def _can_be_pid_1() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    done = subprocess.run([*AS_PID_1, "true"], capture_output=True, timeout=30)
    return done.returncode == 0


needs_pid_1 = pytest.mark.skipif(not _can_be_pid_1(), reason="needs root and unshare")


@pytest.fixture(scope="module")
def shared_dir() -> Iterator[Path]:
    """One embedded cluster for the module (short path: its socket lives in it)."""
    path = Path(tempfile.mkdtemp(prefix="ig-st-", dir="/tmp"))
    yield path
    for pid in postgres_of(path):  # a failed test must not leak a server
        os.kill(pid, signal.SIGQUIT)
    shutil.rmtree(path, ignore_errors=True)


def postgres_of(data_dir: Path) -> list[int]:
    """Live processes started as `postgres -D data_dir/pg`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or not pid_alive(int(entry)):
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if os.path.basename(argv[0]) == b"postgres" and os.fsencode(data_dir / "pg") in argv:
            found.append(int(entry))
    return found


class Started:
    """`ingestd serve` on the embedded PostgreSQL, its output in a file."""

    def __init__(self, data_dir: Path, log: Path, prefix: list[str] | None = None) -> None:
        self.log = log
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
            "INGESTD_DATABASE_URL": "",
            "INGESTD_DATA_DIR": str(data_dir),
            "INGESTD_HOST": "127.0.0.1",
            "INGESTD_PORT": "0",
            "INGESTD_TOKENS": TOKENS_TEXT,
        }
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [*(prefix or []), sys.executable, "-m", "ingestd", "serve"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    @property
    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while not (found := re.search(pattern, self.text)):
            assert self.proc.poll() is None, f"ingestd exited:\n{self.text}"
            assert time.monotonic() < deadline, f"no {pattern!r} in:\n{self.text}"
            time.sleep(0.02)
        return found

    def wait_ready(self) -> None:
        port = int(self.wait_for(r"listening on http://127\.0\.0\.1:(\d+)").group(1))
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2):
                    return
            except OSError:
                assert self.proc.poll() is None, f"ingestd exited:\n{self.text}"
                assert time.monotonic() < deadline, f"not ready:\n{self.text}"
                time.sleep(0.05)

    def pid_1(self) -> int:
        """ingestd's pid outside its namespace: the child of unshare."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        return int(children.split()[0])

    def end(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"ingestd did not stop within {timeout}s:\n{self.text}") from None


def test_a_sigterm_while_starting_stops_the_embedded_postgres_and_exits_0(
    shared_dir: Path, tmp_path: Path
) -> None:
    started = Started(shared_dir, tmp_path / "out")
    # The embedded server starts right after this line.
    started.wait_for("listening on")
    started.proc.send_signal(signal.SIGTERM)
    assert started.end() == 0, started.text
    assert "Traceback" not in started.text
    assert postgres_of(shared_dir) == []


@needs_pid_1
def test_as_pid_1_a_sigterm_while_starting_is_not_lost(shared_dir: Path, tmp_path: Path) -> None:
    # Without a handler, the kernel drops a SIGTERM sent to a namespace's PID 1.
    started = Started(shared_dir, tmp_path / "out", AS_PID_1)
    started.wait_for("listening on")
    os.kill(started.pid_1(), signal.SIGTERM)
    assert started.end() == 0, started.text
    assert "Traceback" not in started.text
    assert postgres_of(shared_dir) == []


@needs_pid_1
def test_as_pid_1_the_start_after_a_sigkill_says_what_it_found(
    shared_dir: Path, tmp_path: Path
) -> None:
    killed = Started(shared_dir, tmp_path / "killed", AS_PID_1)
    killed.wait_ready()
    os.kill(killed.pid_1(), signal.SIGKILL)
    killed.end()
    # As with a container: its postgres went with it, leaving its handle (PID 1) behind.
    assert postgres_of(shared_dir) == []

    again = Started(shared_dir, tmp_path / "again", AS_PID_1)
    again.wait_ready()
    line = again.wait_for(r".*embedded PostgreSQL \d+ started.*").group(0)
    assert "pid(s) [1] of an earlier start" in line
    assert "left running" not in line
    os.kill(again.pid_1(), signal.SIGTERM)
    assert again.end() == 0, again.text
    assert "embedded PostgreSQL stopped" in again.text
    assert postgres_of(shared_dir) == []


def _run_once(
    env: dict[str, str], prefix: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*(prefix or []), sys.executable, "-m", "ingestd", "serve"],
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
            "INGESTD_TOKENS": TOKENS_TEXT,
            "INGESTD_PORT": "0",
            **env,
        },
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_second_ingestd_on_the_same_data_dir_exits_with_one_line(
    ingestd_factory: Callable[..., IngestdProcess],
) -> None:
    first = ingestd_factory()
    assert first.proc is not None
    data_dir = first.log_path.with_suffix(".data")
    done = _run_once({"INGESTD_DATABASE_URL": first.dsn, "INGESTD_DATA_DIR": str(data_dir)})
    assert done.returncode == 1
    lines = (done.stdout + done.stderr).splitlines()
    assert len(lines) == 1, lines
    assert f"another ingestd (pid {first.proc.pid}) uses data dir {data_dir}" in lines[0]
    assert first.proc.poll() is None  # the first one carries on


def test_a_data_dir_it_cannot_write_gives_one_line_saying_what_to_do(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    prefix: list[str] = []
    if os.geteuid() == 0:
        # Root writes anywhere: take away the capability that lets it, as for a root-owned
        # bind mount in a container running as an unprivileged user.
        if shutil.which("setpriv") is None:
            pytest.skip("needs setpriv to drop root's file capabilities")
        os.chown(data_dir, 10001, 10001)
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]
    else:
        data_dir.chmod(0o555)
    done = _run_once({"INGESTD_DATABASE_URL": "", "INGESTD_DATA_DIR": str(data_dir)}, prefix)
    assert done.returncode == 1
    lines = (done.stdout + done.stderr).splitlines()
    assert len(lines) == 1, lines
    uid, gid = os.geteuid(), os.getegid()
    assert f"data dir {data_dir} is not writable by uid {uid}" in lines[0]
    assert f"chown -R {uid}:{gid} {data_dir}" in lines[0]


class _NotedLate(startup.StopSignal):
    """A SIGTERM noted after serve's last check but before run_app's handler is in place: a
    window too short to hit with a real signal, so the flag fakes it."""

    def __init__(self) -> None:
        self.checks = 0

    @property
    def received(self) -> int | None:  # type: ignore[override]
        self.checks += 1
        return None if self.checks == 1 else signal.SIGTERM


def test_a_stop_signal_noted_just_before_run_app_stops_the_server_cleanly(
    pg_cluster: ThrowawayCluster, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ingestd")
    name = f"t_{uuid.uuid4().hex[:12]}"
    IngestdProcess(pg_cluster.dsn, tmp_path / "unused.log").query(f'CREATE DATABASE "{name}"')
    settings = Settings(database_url=dsn_for(pg_cluster.dsn, name), data_dir=tmp_path, port=0)
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    # Were the signal lost, serve would run on (uvloop keeps pytest-timeout from firing):
    # a real SIGTERM a while later ends it, and the test fails.
    fired = threading.Event()

    def stop_anyway() -> None:
        fired.set()
        signal.raise_signal(signal.SIGTERM)

    fallback = threading.Timer(30, stop_anyway)
    fallback.start()
    try:
        cli.serve(settings, _NotedLate())
    finally:
        fallback.cancel()
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    assert not fired.is_set(), "the noted signal was lost"
    assert "writer stopped" in caplog.text  # run_app's cleanup ran
