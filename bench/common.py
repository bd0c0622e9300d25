"""What the benchmarks share: ingestd as a process of their own, and a progress line."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def say(text: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {text}", file=sys.stderr, flush=True)


class Ingestd:
    """`python -m ingestd serve` on a free port, output to a log file, stopped by pid."""

    def __init__(
        self, dsn: str, work: Path, tag: str, extra_env: dict[str, str] | None = None
    ) -> None:
        with socket.socket() as sock:  # INGESTD_LOG_LEVEL=warning hides the port it logs
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        # The shipped defaults: inherited INGESTD_* variables are dropped, extra_env added.
        env = {k: v for k, v in os.environ.items() if not k.startswith("INGESTD_")}
        # A data dir (spool) of its own: nothing left over from, or shared with, any other
        # ingestd (the default one is shared by every ingestd of this user).
        env |= {"INGESTD_DATABASE_URL": dsn, "INGESTD_DATA_DIR": str(work / f"data-{tag}")}
        env |= {"INGESTD_HOST": "127.0.0.1", "INGESTD_PORT": str(self.port)}
        env |= {"INGESTD_LOG_LEVEL": "warning", **(extra_env or {})}
        self.dsn, self.log_path = dsn, work / f"ingestd-{tag}.log"
        with self.log_path.open("wb") as log:  # own session: the terminal's Ctrl-C is ours to pass
            command = [sys.executable, "-m", "ingestd", "serve"]
            self.proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=log,
                                         start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + 60
        try:
            while not self._ready():
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"ingestd did not get ready; its log: {self.log_path}")
                time.sleep(0.1)
        except BaseException:
            self.stop()
            raise

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
