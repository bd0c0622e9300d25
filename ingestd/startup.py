"""What `ingestd serve` takes before its HTTP server starts, and gives back after it stops:
the stop signal, the data dir, the database.

These live outside aiohttp's startup on purpose: aiohttp runs no cleanup when a startup step
fails, and its signal handlers arrive only once the event loop runs. Before then, a SIGTERM
is dropped by the kernel when ingestd is a container's PID 1, and kills it halfway through
starting PostgreSQL anywhere else.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from ingestd.db.embedded import start_embedded

if TYPE_CHECKING:  # at run time settings imports aiohttp, and cli imports this module first
    from ingestd.settings import Settings

LOCK_FILE = "ingestd.lock"
#: Subdirectories ingestd writes in, checked up front so their owner is named in one line.
_OWN_SUBDIRS = ("pg", "spool")


class StartupError(Exception):
    """ingestd cannot start; the message is the one line the operator reads."""


class StopSignal:
    """SIGTERM and SIGINT noted, not acted on, while nothing else handles them."""

    def __init__(self) -> None:
        self.received: int | None = None

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._note)

    def _note(self, signum: int, frame: FrameType | None) -> None:
        # Only note it: raising here could cut the embedded server's start in half.
        self.received = signum

    def forward(self) -> None:
        """Send a signal noted so far again, now that the server's own handler is in place."""
        if self.received is not None:
            signal.raise_signal(self.received)


def _not_writable(path: Path, what: str = "data dir") -> StartupError:
    uid, gid = os.geteuid(), os.getegid()
    return StartupError(
        f"{what} {path} is not writable by uid {uid}: run `chown -R {uid}:{gid} {path}` "
        "(for a bind mount, on the host), or set INGESTD_DATA_DIR to a directory it can write"
    )


@contextlib.contextmanager
def data_dir_lock(path: Path) -> Iterator[None]:
    """Hold the data dir for this process: a second ingestd on it stops here, before it
    touches the embedded server or the spool."""
    path = path.expanduser().absolute()
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    except PermissionError:
        missing = path
        while not missing.parent.exists():  # name the directory that refused, not a child
            missing = missing.parent
        if path.exists():
            raise _not_writable(path) from None
        raise _not_writable(missing.parent, "the data dir's parent") from None
    except OSError as exc:
        if exc.errno == errno.EROFS:
            raise StartupError(f"data dir {path} is on a read-only file system") from None
        raise StartupError(f"cannot use data dir {path}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise StartupError(
                f"another ingestd (pid {holder}) uses data dir {path}: stop it, or give each "
                "ingestd its own INGESTD_DATA_DIR"
            ) from None
        for sub in (path, *(path / name for name in _OWN_SUBDIRS)):
            if sub.is_dir() and not os.access(sub, os.W_OK | os.X_OK):
                raise _not_writable(sub)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[str]:
    """The DSN to use: the configured one, or the embedded server's, started and stopped
    here, in this thread, where a stop signal only sets a flag."""
    if settings.database_url is not None:
        yield settings.database_url
        return
    embedded = start_embedded(settings.data_path / "pg")
    try:
        yield embedded.dsn
    finally:
        embedded.stop()
