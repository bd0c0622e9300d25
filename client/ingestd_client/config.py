"""Client settings: one frozen object, defaults from the environment."""

from __future__ import annotations

import hashlib
import os
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

DEFAULT_URL = "http://127.0.0.1:8080"

PathLike = Union[str, "os.PathLike[str]"]


def default_spool_root() -> Path:
    """The per-user directory that holds spools, one subdirectory per ingestd URL."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "ingestd" / "spool"
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "ingestd" / "spool"


def spool_dir_for(url: str) -> Path:
    """Default spool directory for ``url``: batches for one server never replay to another."""
    digest = hashlib.sha256(url.rstrip("/").encode()).hexdigest()[:16]
    return default_spool_root() / digest


@dataclass(frozen=True)
class ClientConfig:
    """Settings of an :class:`~ingestd_client.IngestClient`.

    Attributes:
        url: base URL of ingestd (``INGESTD_URL``, default ``http://127.0.0.1:8080``).
        token: bearer token with the ``ingest`` scope (``INGESTD_TOKEN``).
        batch_max_events: a batch is sent once it holds this many events.
        batch_max_bytes: ... or this many bytes of NDJSON before compression.
        flush_interval: seconds between sends when batches do not fill up.
        max_queue: events held in memory; when full, *new* log events are dropped and
            counted (run events are always kept).
        request_timeout: seconds one HTTP request may take.
        close_timeout: seconds ``close()`` (and the exit hook) may spend delivering; what is
            left goes to the spool.
        max_attempts: tries of one batch before it is spooled and the client switches to
            spooling until ingestd answers again.
        backoff_base / backoff_max: jittered exponential backoff between tries, in seconds;
            ``Retry-After`` is honoured (capped at ``backoff_max``).
        spool: keep undeliverable batches on disk and replay them later.
        spool_dir: where (``INGESTD_SPOOL_DIR``; default a per-user directory per URL).
        spool_max_bytes: when the spool holds this much, new batches are dropped and counted.
        heartbeat_interval: seconds between heartbeats of an open run (0 disables).
        wait_for_commit: send with ``?wait=commit`` (the server answers once the events are
            in PostgreSQL); slower, useful in tests.
        gzip_level: compression level of request bodies.
    """

    url: str = DEFAULT_URL
    token: str | None = None
    batch_max_events: int = 500
    batch_max_bytes: int = 1_000_000
    flush_interval: float = 1.0
    max_queue: int = 20_000
    request_timeout: float = 5.0
    close_timeout: float = 5.0
    max_attempts: int = 3
    backoff_base: float = 0.2
    backoff_max: float = 30.0
    spool: bool = True
    spool_dir: Path = field(default_factory=lambda: spool_dir_for(DEFAULT_URL))
    spool_max_bytes: int = 256 * 1024 * 1024
    heartbeat_interval: float = 30.0
    wait_for_commit: bool = False
    gzip_level: int = 5

    @classmethod
    def build(
        cls,
        url: str | None = None,
        token: str | None = None,
        spool_dir: PathLike | None = None,
        **options: object,
    ) -> ClientConfig:
        """Settings from arguments, falling back to ``INGESTD_*`` environment variables."""
        url = (url or os.environ.get("INGESTD_URL") or DEFAULT_URL).rstrip("/")
        if token is None:
            token = os.environ.get("INGESTD_TOKEN") or None
        if spool_dir is None:
            env_dir = os.environ.get("INGESTD_SPOOL_DIR")
            path = Path(env_dir) if env_dir else spool_dir_for(url)
        else:
            path = Path(spool_dir)
        unknown = set(options) - set(cls.__dataclass_fields__)
        if unknown:
            raise TypeError(f"unknown IngestClient option(s): {', '.join(sorted(unknown))}")
        return cls(url=url, token=token, spool_dir=path, **options)  # type: ignore[arg-type]

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before try ``attempt + 1``: exponential with jitter (so clients
        that failed together do not retry together), at least ingestd's ``Retry-After``."""
        delay = min(self.backoff_max, self.backoff_base * 2.0**attempt)
        delay *= random.uniform(0.5, 1.0)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max))
        return delay
