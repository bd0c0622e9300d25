"""What many live-tail clients cost ingestd: resident memory, and ordinary requests meanwhile.

    .venv/bin/python bench/tail.py [--clients 500] [--lines 50000] [--rate 5000]
                                   [--unfiltered 50] [--slow 50] [--stuck 10]

Starts a throwaway PostgreSQL and `python -m ingestd serve` (the shipped defaults), opens
`--clients` GET /v1/tail streams, then sends `--lines` log lines through POST /v1/events
(100 a request, at `--rate` lines/s) while a second process times ordinary requests
(GET /v1/runs, POST /v1/events of one event, GET /healthz) every 20 ms. The streams are:

- `--unfiltered` fast readers with no filter: every line goes to each of them;
- `--slow` unfiltered readers that take 4 KiB every 0.2 s (a phone on a bad network);
- `--stuck` unfiltered readers that never read after the first line (a laptop put to sleep);
  these two with a 64 KiB socket receive buffer, as a far client's window would be (on
  loopback the kernel would otherwise buffer up to 32 MiB per connection for them);
- the rest fast readers filtered by one of 50 jobs, or by `min_level=error` (one in five),
  as the dashboard's run pages and error views do.

ingestd's resident memory (VmRSS) is sampled every 0.25 s from /proc; VmHWM is the kernel's
peak. The last line printed is JSON with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import shutil
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Ingestd, say  # noqa: E402
from bench.cpumeter import CpuMeter  # noqa: E402
from bench.loadgen import run  # noqa: E402

TOKEN = "bench-tail-token"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
JOBS = 50
PER_REQUEST = 100


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in MiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0]) // 1024
    return found


def percentiles(times: list[float]) -> dict[str, float]:
    if not times:
        return {}
    times = sorted(times)
    return {
        "n": len(times),
        "p50_ms": round(statistics.median(times), 1),
        "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 1),
        "max_ms": round(times[-1], 1),
    }


# --- the ordinary requests, timed in a process of their own --------------------------------


def probe_main(url: str, stop: Any, out: Any) -> None:
    """Time GET /v1/runs and POST /v1/events (one event) until `stop` is set."""
    out.put(asyncio.run(probe(url, stop)))


async def probe(url: str, stop: Any) -> dict[str, Any]:
    times: dict[str, list[float]] = {"get_runs": [], "post_event": [], "healthz": []}
    failures = 0
    async with aiohttp.ClientSession(base_url=url + "/", headers=HEADERS) as http:
        while not stop.is_set():
            for name in times:
                t0 = time.perf_counter()
                try:
                    if name == "get_runs":
                        request = http.get("v1/runs", params={"limit": "20"})
                    elif name == "healthz":  # no database: the event loop alone
                        request = http.get("healthz")
                    else:
                        event = {"job": "probe", "message": "probe line"}
                        request = http.post("v1/events", data=orjson.dumps(event))
                    async with request as answer:
                        await answer.read()
                        ok = answer.status in (200, 202)
                except aiohttp.ClientError:
                    ok = False
                if ok:
                    times[name].append((time.perf_counter() - t0) * 1000)
                else:
                    failures += 1
            await asyncio.sleep(0.02)
    return {**{name: percentiles(t) for name, t in times.items()}, "failures": failures}


# --- the tail clients --------------------------------------------------------------------


class Tails:
    def __init__(self) -> None:
        self.lines: dict[str, int] = {}
        self.overflows = 0
        self.refused = 0
        self.opened = 0
        self.ended = 0
        #: Set whenever any of the above changes.
        self.changed = asyncio.Event()

    async def wait_until(self, done: Callable[[], bool], timeout_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while not done():
                    self.changed.clear()
                    await self.changed.wait()


async def tail_client(
    http: aiohttp.ClientSession, name: str, params: dict[str, str], mode: str, tails: Tails
) -> None:
    tails.lines[name] = 0
    try:
        async with http.get("v1/tail", params=params) as answer:
            if answer.status != 200:
                tails.refused += 1
                tails.changed.set()
                return
            await answer.content.readline()
            tails.opened += 1
            tails.changed.set()
            if mode == "stuck":
                await asyncio.Event().wait()  # never reads again; cancelled at the end
            while True:
                if mode == "slow":
                    chunk = await answer.content.read(4096)
                    await asyncio.sleep(0.2)
                else:
                    chunk = await answer.content.readany()
                if not chunk:
                    break
                tails.lines[name] += chunk.count(b"event: log\n")
                tails.changed.set()
                if b"event: overflow" in chunk:
                    tails.overflows += 1
            tails.ended += 1
    except (aiohttp.ClientError, ConnectionError):
        tails.ended += 1


def client_plan(args: argparse.Namespace) -> list[tuple[str, dict[str, str], str]]:
    plan: list[tuple[str, dict[str, str], str]] = []
    for i in range(args.clients):
        if i < args.unfiltered:
            plan.append((f"all-{i}", {}, "fast"))
        elif i < args.unfiltered + args.slow:
            plan.append((f"slow-{i}", {}, "slow"))
        elif i < args.unfiltered + args.slow + args.stuck:
            plan.append((f"stuck-{i}", {}, "stuck"))
        elif i % 5 == 0:
            plan.append((f"errors-{i}", {"min_level": "error"}, "fast"))
        else:
            plan.append((f"job-{i}", {"job": f"job-{i % JOBS}"}, "fast"))
    return plan


def request_body(start: int) -> bytes:
    run = str(uuid.uuid4())
    events = []
    for n in range(start, start + PER_REQUEST):
        events.append(
            {
                "job": f"job-{n % JOBS}",
                "run_id": run if n % JOBS == start % JOBS else None,
                "level": "error" if n % 20 == 0 else "info",
                "step": "FETCH",
                "message": f"line {n}: fetched page {n % 97} of the calls listing, 120 calls, "
                "3 retried after a 502 from the upstream",
                "attrs": {"count": 120, "terminal_id": f"T{n % 40:02d}", "n": n},
            }
        )
    for event in events:
        if event["run_id"] is None:
            del event["run_id"]
    return orjson.dumps(events)


def small_window(addr_info: Any) -> socket.socket:
    family, kind, proto, _, _ = addr_info
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    return sock


async def drive(url: str, pid: int, args: argparse.Namespace) -> dict[str, Any]:
    tails = Tails()
    samples: list[int] = []
    base = proc_status(pid)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with (
        aiohttp.ClientSession(
            base_url=url + "/",
            headers=HEADERS,
            connector=aiohttp.TCPConnector(limit=0),
            timeout=timeout,
        ) as http,
        aiohttp.ClientSession(
            base_url=url + "/",
            headers=HEADERS,
            connector=aiohttp.TCPConnector(limit=0, socket_factory=small_window),
            timeout=timeout,
        ) as far,
    ):

        async def sample() -> None:
            while True:
                samples.append(proc_status(pid)["VmRSS"])
                await asyncio.sleep(0.25)

        sampler = asyncio.create_task(sample())
        plan = client_plan(args)
        clients = [
            asyncio.create_task(tail_client(http if p[2] == "fast" else far, *p, tails))
            for p in plan
        ]
        await tails.wait_until(lambda: tails.opened + tails.refused >= len(plan), 60)
        say(f"{tails.opened} tail streams open ({tails.refused} refused); sending lines")
        with_streams = proc_status(pid)["VmRSS"]

        stop = multiprocessing.Event()
        out: Any = multiprocessing.Queue()
        prober = multiprocessing.Process(target=probe_main, args=(url, stop, out))
        prober.start()
        cpu = CpuMeter(ingestd=lambda: [pid])
        cpu.start()
        started = time.monotonic()
        sent = 0
        async with aiohttp.ClientSession(base_url=url + "/", headers=HEADERS) as sender:
            while sent < args.lines:
                due = started + sent / args.rate
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                async with sender.post("v1/events", data=request_body(sent)) as answer:
                    if answer.status != 202:
                        text = await answer.text()
                        raise RuntimeError(f"POST /v1/events: {answer.status} {text}")
                sent += PER_REQUEST
        send_s = time.monotonic() - started
        # Let the fast readers catch up (or the slow ones be cut off), then stop timing.
        expected = lines_expected(plan, args.lines)
        await tails.wait_until(lambda: caught_up(tails, expected), args.settle)
        caught_up_s = time.monotonic() - started
        cpu.stop()
        stop.set()
        timed = out.get(timeout=60)
        prober.join(10)
        peak = proc_status(pid)
        async with http.get("metrics") as answer:
            tail_metrics = {
                name: float(value)
                for name, _, value in (
                    line.partition(" ") for line in (await answer.text()).splitlines()
                )
                if name.startswith("ingestd_tail_")
            }
        for task in clients:
            task.cancel()
        await asyncio.gather(*clients, return_exceptions=True)
    await asyncio.sleep(2)
    sampler.cancel()
    after = proc_status(pid)
    fast = {n: c for n, c in tails.lines.items() if n in expected}
    return {
        "clients": len(plan),
        "opened": tails.opened,
        "refused": tails.refused,
        "lines": args.lines,
        "send_s": round(send_s, 1),
        "until_fast_readers_caught_up_s": round(caught_up_s, 1),
        "fast_readers_complete": sum(fast[n] >= expected[n] for n in fast),
        "fast_readers": len(fast),
        "overflow_events_seen": tails.overflows,
        "server": tail_metrics,
        "ingestd_cpu_s": round(cpu.seconds["ingestd"], 1),
        "cpu": str(cpu),
        "rss_mib": {
            "idle": base["VmRSS"],
            "with_streams": with_streams,
            "max_sampled": max(samples, default=0),
            "peak_vmhwm": peak["VmHWM"],
            "after_clients_left": after["VmRSS"],
        },
        **timed,
    }


def lines_expected(plan: list[tuple[str, dict[str, str], str]], lines: int) -> dict[str, int]:
    """Lines each fast reader should get (the probe's own lines aside)."""
    expected = {}
    for name, params, mode in plan:
        if mode != "fast":
            continue
        if "job" in params:
            expected[name] = lines // JOBS
        elif "min_level" in params:
            expected[name] = lines // 20
        else:
            expected[name] = lines
    return expected


def caught_up(tails: Tails, expected: dict[str, int]) -> bool:
    return all(tails.lines.get(n, 0) >= c for n, c in expected.items())


async def create_database(admin_dsn: str) -> str:
    from tests.conftest import dsn_for

    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute("CREATE DATABASE bench_tail")
    finally:
        await conn.close()
    return dsn_for(admin_dsn, "bench_tail")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--rate", type=float, default=5_000, help="lines/s sent")
    parser.add_argument("--unfiltered", type=int, default=50)
    parser.add_argument("--slow", type=int, default=50)
    parser.add_argument("--stuck", type=int, default=10)
    parser.add_argument("--settle", type=float, default=60, help="s for readers to catch up")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="ingestd-bench-tail-"))
    cluster = server = None
    try:
        from tests.pgcluster import ThrowawayCluster

        say("starting a throwaway PostgreSQL")
        cluster = ThrowawayCluster.start(work)
        dsn = asyncio.run(create_database(cluster.dsn))
        # Room for every stream plus the senders and the timed requests beside them: past
        # INGESTD_MAX_CONNECTIONS (500 by default) a connection is refused.
        env = {
            "INGESTD_TOKENS": f"{TOKEN}:ingest,read",
            "INGESTD_MAX_CONNECTIONS": str(args.clients + 100),
        }
        server = Ingestd(dsn, work, "tail", env)
        say(f"{args.clients} tail clients, {args.lines:,} lines at {args.rate:,.0f}/s")
        results = run(drive(server.url, server.proc.pid, args))
    finally:
        if server is not None:
            server.stop()
        if cluster is not None:
            cluster.destroy()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
