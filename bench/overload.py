"""Overload: drive ingestd at about twice what it can commit, and watch it hold.

1. Calibrate: flood ingestd for a few seconds and measure what it commits per second (C).
2. Overload: send about 2 x C events/s for --seconds from a separate process, sampling
   ingestd's resident memory every second.
3. Stop sending, read /metrics, and check that committed + pending == acknowledged.

Prints the memory over time, the share of 429/503 answers, and last one JSON line with
max_rss_mb, acknowledged, committed, pending and share_refused.

    .venv/bin/python bench/overload.py [--seconds 60] [--env INGESTD_DURABILITY=spool]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import re
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import Ingestd
from tests.pgcluster import ThrowawayCluster

EVENTS_PER_BODY = 100
CONNECTIONS = 32


def body(batch: int) -> bytes:
    run_id = uuid.UUID(int=batch % 500)
    lines = [
        json.dumps(
            {
                "message": f"row {batch}-{i}: fetched 120 records from terminal T-{i % 300}",
                "level": "info" if i % 50 else "error",
                "job": f"job-{batch % 50}",
                "run_id": str(run_id),
                "step": ("FETCH", "PARSE", "SAVE")[i % 3],
                "attrs": {"terminal_id": f"T-{i % 300}", "rows": i},
            }
        )
        for i in range(EVENTS_PER_BODY)
    ]
    return "\n".join(lines).encode()


async def _send(url: str, rate: float, seconds: float, results: Any) -> None:
    """Send ~rate events/s (in 100-event bodies) for `seconds`; count answers."""
    bodies = [body(i) for i in range(200)]
    counts: dict[str, int] = {}
    acked = 0
    interval = EVENTS_PER_BODY / rate if rate else 0.0
    start = time.monotonic()
    headers = {"Content-Type": "application/x-ndjson"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONNECTIONS)) as http:
        semaphore = asyncio.Semaphore(CONNECTIONS)

        async def one(data: bytes) -> None:
            nonlocal acked
            try:
                async with http.post(f"{url}/v1/events", data=data, headers=headers) as answer:
                    await answer.read()
                    key = str(answer.status)
                    if answer.status == 202:
                        acked += EVENTS_PER_BODY
            except aiohttp.ClientError as exc:
                key = type(exc).__name__
            finally:
                semaphore.release()
            counts[key] = counts.get(key, 0) + 1

        tasks = set()
        sent = 0
        while (now := time.monotonic()) - start < seconds:
            due = start + sent * interval
            if interval and due > now:
                await asyncio.sleep(due - now)
            await semaphore.acquire()
            task = asyncio.create_task(one(bodies[sent % len(bodies)]))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
        await asyncio.gather(*tasks)
    results.put({"counts": counts, "acked": acked, "elapsed": time.monotonic() - start})


def sender(url: str, rate: float, seconds: float, results: Any) -> None:
    asyncio.run(_send(url, rate, seconds, results))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def count_logs(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM logs"))
    finally:
        await conn.close()


def metrics(url: str) -> dict[str, float]:
    import urllib.request

    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    found = re.findall(r"^(ingestd_\w+?)(?:_total)? ([0-9.e+-]+)$", text, re.M)
    return {name: float(value) for name, value in found}


def run_phase(
    url: str, rate: float, seconds: float, pid: int, samples: list[float]
) -> dict[str, Any]:
    results: Any = multiprocessing.Queue()
    child = multiprocessing.Process(target=sender, args=(url, rate, seconds, results))
    child.start()
    while child.is_alive():
        samples.append(rss_mb(pid))
        child.join(1.0)
    return dict(results.get(timeout=30))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="overload duration")
    parser.add_argument("--calibrate-seconds", type=float, default=8.0)
    parser.add_argument("--factor", type=float, default=2.0, help="overload x capacity")
    parser.add_argument("--database-url", help="use this PostgreSQL instead of a throwaway")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for ingestd")
    parser.add_argument(
        "--drain-seconds",
        type=float,
        default=300.0,
        help="afterwards, wait this long at most for the backlog to be written",
    )
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.env)

    work = Path(tempfile.mkdtemp(prefix="ig-overload-"))
    cluster = None
    if args.database_url:
        dsn = args.database_url
    else:
        cluster = ThrowawayCluster.start(work)
        dsn = cluster.dsn
    server = None
    try:
        server = Ingestd(dsn, work, "overload", extra)
        url, proc = server.url, server.proc
        samples: list[float] = []
        calibration = run_phase(url, 0, args.calibrate_seconds, proc.pid, samples)
        time.sleep(3)
        capacity = asyncio.run(count_logs(dsn)) / (calibration["elapsed"] + 3)
        rate = capacity * args.factor
        print(f"capacity ~{capacity:,.0f} events/s committed; overloading at {rate:,.0f}/s")

        samples.clear()
        base = metrics(url)
        overload = run_phase(url, rate, args.seconds, proc.pid, samples)
        after = metrics(url)
        # Acknowledged as the client counted it (202s), against the daemon's own accounts.
        acknowledged = overload["acked"]
        committed = after["ingestd_events_committed"] - base["ingestd_events_committed"]
        pending = after["ingestd_events_pending"] - base["ingestd_events_pending"]
        answers = overload["counts"]
        total = sum(answers.values())
        refused = answers.get("429", 0) + answers.get("503", 0)

        print(f"\n{'second':>6} {'RSS MB':>8}")
        for second, value in enumerate(samples):
            if second % 5 == 0 or second == len(samples) - 1:
                print(f"{second:>6} {value:>8.1f}")
        print(f"\nanswers: {answers}")
        print(
            f"acknowledged {acknowledged:,.0f} = committed {committed:,.0f} + pending "
            f"{pending:,.0f}: {'yes' if acknowledged == committed + pending else 'NO'}"
        )
        deadline = time.monotonic() + args.drain_seconds
        while metrics(url)["ingestd_events_pending"] > 0 and time.monotonic() < deadline:
            time.sleep(1)
        stored = asyncio.run(count_logs(dsn))
        sent = calibration["acked"] + acknowledged
        print(
            f"after draining: {stored:,} rows stored for {sent:,.0f} acknowledged "
            f"({'all there' if stored == sent else 'MISMATCH'})"
        )
        print(json.dumps({
            "max_rss_mb": round(max(samples), 1),
            "acknowledged": int(acknowledged),
            "committed": int(committed),
            "pending": int(pending),
            "share_refused": round(refused / total, 4) if total else 0.0,
        }))  # fmt: skip
    finally:
        if server is not None:
            server.stop()
        if cluster is not None:
            cluster.destroy()


if __name__ == "__main__":
    main()
