"""Cost of one ``logger.info`` call in the calling thread, per handler.

    python bench/client.py [--url URL --token TOKEN] [--calls 20000] [--repeat 7]

Compares NullHandler, FileHandler and IngestHandler with ingestd up and with ingestd down
(a closed port: every batch goes to the spool). Without ``--url`` it starts a real ingestd
(``python -m ingestd serve`` on a free port, embedded PostgreSQL in a temporary directory);
if that cannot start, a minimal HTTP sink answering 202 stands in, and the table says so.

Two figures per handler: wall time per call in the calling thread (includes the time the
sender thread holds the GIL meanwhile) and CPU time of the calling thread alone. The median
of ``--repeat`` rounds is reported. The last line is JSON with the wall-time figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator

from ingestd_client import IngestClient, IngestHandler

TOKEN = "bench-token"
SINK = r"""
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b'{"accepted": 0, "rejected": [], "duplicate": false}'
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, deadline: float, proc: subprocess.Popen[bytes]) -> bool:
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.2)
    return False


@contextlib.contextmanager
def server(url: str | None) -> Iterator[tuple[str, str]]:
    """Yields (url, what it is)."""
    if url:
        yield url, "given"
        return
    port = free_port()
    data = tempfile.mkdtemp(prefix="ingestd-bench-")
    env = dict(
        os.environ,
        INGESTD_PORT=str(port),
        INGESTD_DATA_DIR=data,
        INGESTD_TOKENS=f"{TOKEN}:ingest,read,admin",
    )
    env.pop("INGESTD_DATABASE_URL", None)
    kind = "ingestd"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingestd", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if not wait_ready(f"http://127.0.0.1:{port}/readyz", time.monotonic() + 90, proc):
        proc.terminate()
        proc.wait()
        kind = "stdlib sink (ingestd did not start)"
        proc = subprocess.Popen([sys.executable, "-c", SINK, str(port)])
        wait_ready(f"http://127.0.0.1:{port}/", time.monotonic() + 10, proc)
    try:
        yield f"http://127.0.0.1:{port}", kind
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(data, ignore_errors=True)


def one_round(logger: logging.Logger, calls: int) -> tuple[float, float]:
    info = logger.info
    t0, c0 = time.perf_counter(), time.thread_time()
    for i in range(calls):
        info("processed item %d of %s", i, "batch-7")
    c1, t1 = time.thread_time(), time.perf_counter()
    return (t1 - t0) / calls * 1e6, (c1 - c0) / calls * 1e6


def measure(
    cases: dict[str, tuple[logging.Logger, Callable[[], object]]], calls: int, repeat: int
) -> dict[str, tuple[float, float]]:
    """Rounds interleaved across handlers, so a busy machine skews them alike; medians."""
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    for _ in range(repeat):
        for name, (logger, after) in cases.items():
            samples[name].append(one_round(logger, calls))
            after()
    return {
        name: (statistics.median(w for w, _ in s), statistics.median(c for _, c in s))
        for name, s in samples.items()
    }


def make_logger(name: str, handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(f"bench.{name}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running ingestd (default: start one)")
    parser.add_argument("--token", default=os.environ.get("INGESTD_TOKEN", TOKEN))
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument(
        "--format",
        default="%(asctime)s %(levelname)s %(name)s: %(message)s",
        help="FileHandler format (default: a typical one with a timestamp)",
    )
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="ingestd-bench-")
    try:
        file_handler = logging.FileHandler(os.path.join(tmp, "bench.log"))
        file_handler.setFormatter(logging.Formatter(args.format))
        with server(args.url) as (url, kind):
            up = IngestClient(url, args.token, spool_dir=os.path.join(tmp, "spool-up"))
            down_url = f"http://127.0.0.1:{free_port()}"
            down = IngestClient(down_url, args.token, spool_dir=os.path.join(tmp, "spool"))
            cases: dict[str, tuple[logging.Logger, Callable[[], object]]] = {
                "NullHandler": (make_logger("null", logging.NullHandler()), lambda: None),
                "FileHandler": (make_logger("file", file_handler), lambda: None),
                f"IngestHandler, up ({kind})": (
                    make_logger("up", IngestHandler(up)),
                    lambda: up.flush(30),
                ),
                "IngestHandler, down (spooling)": (
                    make_logger("down", IngestHandler(down)),
                    lambda: down.flush(0.5),
                ),
            }
            rows = measure(cases, args.calls, args.repeat)
            stats_up, stats_down = up.stats(), down.stats()
            up.close()
            down.close(1.0)
        file_handler.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    file_wall = rows["FileHandler"][0]
    print(f"{'handler':44} {'wall µs/call':>13} {'cpu µs/call':>12} {'x FileHandler':>14}")
    for name, (wall, cpu) in rows.items():
        print(f"{name:44} {wall:13.2f} {cpu:12.2f} {wall / file_wall:14.2f}")
    print(
        f"up: sent {stats_up.sent_events} events in {stats_up.sent_batches} batches, "
        f"dropped {stats_up.dropped_events}; down: spooled {stats_down.spooled_events} events, "
        f"dropped {stats_down.dropped_events}"
    )
    values = list(rows.values())
    print(
        json.dumps(
            {
                "null_handler_us": round(values[0][0], 3),
                "file_handler_us": round(values[1][0], 3),
                "ingest_handler_us": round(values[2][0], 3),
                "ingest_handler_down_us": round(values[3][0], 3),
            }
        )
    )


if __name__ == "__main__":
    main()
