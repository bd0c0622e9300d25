"""The on-disk spool: batches that could not be delivered, kept in order until replayed.

One file per batch, ``<time_ns>-<pid>-<seq>-<idempotency key>.ndjson.gz``, holding exactly the
gzip'd body that would have been POSTed (``zcat`` shows it). Files are written under a
temporary name and renamed, so a reader never sees half a batch. A file is deleted only after
ingestd acknowledged it; if the process dies mid-replay the file is still there and the next
replay sends it again under the same idempotency key, which ingestd deduplicates. Only the
holder of the directory's lock (``flock`` on ``.lock``, released by the OS when a process
dies) replays, so two processes sharing a spool never send the same file at once. Batches
ingestd refused as bad (4xx) move to ``dead/`` with a ``.reason`` file beside them.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from pathlib import Path
from typing import IO

SUFFIX = ".ndjson.gz"

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class Spool:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._seq = itertools.count()
        self._last_ns = 0
        self._name_lock = threading.Lock()
        self._own: set[str] = set()
        self._lock_file: IO[bytes] | None = None
        self.directory.mkdir(parents=True, exist_ok=True)
        self._bytes = sum(self._size(p) for p in self.files())

    @staticmethod
    def _size(path: Path) -> int:
        try:
            return path.stat().st_size
        except OSError:
            return 0

    @staticmethod
    def key_of(path: Path) -> str:
        """The idempotency key a spooled batch was first sent (or meant to be sent) with."""
        return path.name[: -len(SUFFIX)].split("-", 3)[3]

    def files(self) -> list[Path]:
        """Spooled batches, oldest first."""
        try:
            names = sorted(n for n in os.listdir(self.directory) if n.endswith(SUFFIX))
        except OSError:
            return []
        return [self.directory / n for n in names if not n.startswith(".")]

    @property
    def full(self) -> bool:
        return self._bytes >= self.max_bytes

    def write(self, key: str, body: bytes) -> Path:
        """Store one batch atomically; raises OSError when the disk says no."""
        with self._name_lock:
            ns = max(time.time_ns(), self._last_ns + 1)
            self._last_ns = ns
        name = f"{ns:020d}-{os.getpid()}-{next(self._seq):06d}-{key}{SUFFIX}"
        tmp = self.directory / f".tmp-{name}"
        with open(tmp, "wb") as fh:
            fh.write(body)
        os.replace(tmp, self.directory / name)
        self._own.add(name)
        self._bytes += len(body)
        return self.directory / name

    def read(self, path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except OSError:
            return None

    def remove(self, path: Path) -> None:
        size = self._size(path)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        self._own.discard(path.name)
        self._bytes = max(0, self._bytes - size)

    def dead_letter(self, path: Path, reason: str) -> Path:
        dead = self.directory / "dead"
        dead.mkdir(exist_ok=True)
        target = dead / path.name
        size = self._size(path)
        os.replace(path, target)
        (dead / (path.name + ".reason")).write_text(reason + "\n", encoding="utf-8")
        self._own.discard(path.name)
        self._bytes = max(0, self._bytes - size)
        return target

    def write_dead(self, key: str, body: bytes, reason: str) -> Path:
        """Keep a batch ingestd refused as bad, for a human to look at."""
        return self.dead_letter(self.write(key, body), reason)

    def own_pending(self) -> bool:
        """Whether batches this process spooled are still waiting (anyone may replay them)."""
        self._own = {n for n in self._own if (self.directory / n).exists()}
        return bool(self._own)

    def try_lock(self) -> bool:
        """Take the replay lock without waiting; False when another process holds it."""
        if self._lock_file is not None:
            return True
        if fcntl is None:  # pragma: no cover - Windows: one replayer per spool is assumed
            return True
        fh = open(self.directory / ".lock", "ab")  # noqa: SIM115 - held across calls
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            return False
        self._lock_file = fh
        return True

    def unlock(self) -> None:
        if self._lock_file is not None:
            if fcntl is not None:
                fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None
