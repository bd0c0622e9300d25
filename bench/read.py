"""How fast ingestd answers the read API on a realistic amount of data.

    .venv/bin/python bench/read.py [--logs 10000000] [--runs 200000] [--jobs 50] [--days 30]
                                   [--repeat 40] [--quick] [--database-url DSN] [--reuse]
                                   [--only PREFIX[,PREFIX]]
    .venv/bin/python bench/read.py --copy-cost 200000 [--cost-rounds 3] [--errors-only]

Builds a dataset shaped like the seeds' (jobs syncing calls, ATM terminals, profile upkeep,
imports: runs with steps, counters and attrs such as profile_id / terminal_id; about 2% of
logs at error level across a few steps; 1% of logs outside any run), loaded with binary COPY
straight into `runs` and `logs` over the last `--days` days, then VACUUM ANALYZE (what
autovacuum does on its own after a load). Then it starts `python -m ingestd serve` on that
database and times repeated calls of each endpoint with realistic, varied filters.

Without --database-url a throwaway PostgreSQL is started (tests/pgcluster.py) and removed at
the end. With --database-url DSN the dataset is loaded into that (empty) database and kept;
`--reuse` skips the load when the database already holds one. The last line printed is JSON:
{endpoint: {"p50_ms": ..., "p95_ms": ...}}. Stats answers are kept a few seconds by ingestd;
those endpoints are timed as served and, as NAME_uncached, recomputed on every call.

`--copy-cost ROWS` measures instead what the read indexes cost at ingest: the PostgreSQL
backend's CPU time per log row COPYed (from /proc, so a busy machine skews it less than wall
time), without migration 002, with 002 alone, with 005 (attrs whole in the error index), as
shipped (007: attrs of up to 300 bytes in an error index of their own), and with the indexes
they chose not to have.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Ingestd, say  # noqa: E402
from bench.copy_cost import measure_copy_cost  # noqa: E402
from bench.read_dataset import ERROR_STEPS, Dataset, existing, load  # noqa: E402

TOKEN = "bench-read-token"

# --- the measurements ---------------------------------------------------------------------


def endpoints(ds: Dataset, rnd: random.Random) -> dict[str, Any]:
    """Endpoint name -> a function giving the next request path (filters vary per call)."""
    jobs = [j.name for j in ds.jobs]
    top_jobs = jobs[:10]
    steps = list(ERROR_STEPS)
    words = ("timeout", "credentials", "502", "unique constraint", "terminal T0042")

    def pick(xs: list[str]) -> str:
        return rnd.choice(xs)

    return {
        "runs": lambda: "v1/runs",
        "runs_job": lambda: f"v1/runs?job={pick(jobs)}",
        "runs_failed": lambda: "v1/runs?status=failed,timed_out",
        "runs_running": lambda: "v1/runs?status=running",
        "runs_attr": lambda: f"v1/runs?attr.profile_id={pick(ds.profiles)}",
        "runs_job_7d": lambda: f"v1/runs?job={pick(top_jobs)}&since=7d&limit=20",
        "run": lambda: f"v1/runs/{pick(ds.run_ids)}",
        "run_logs": lambda: f"v1/runs/{pick(ds.run_ids)}/logs",
        "run_logs_errors": lambda: f"v1/runs/{pick(ds.run_ids)}/logs?min_level=warning",
        # What changed since the job's last success (the run page asks this for a finished run).
        "compare": lambda: f"v1/runs/{pick(ds.run_ids)}/compare",
        "logs": lambda: "v1/logs",
        "logs_errors_24h": lambda: "v1/logs?min_level=error&since=24h",
        "logs_job": lambda: f"v1/logs?job={pick(jobs)}",
        "logs_job_errors_7d": lambda: f"v1/logs?job={pick(jobs)}&min_level=error&since=7d",
        "logs_step_24h": lambda: "v1/logs?step=SAVE&level=error&since=24h",
        "logs_attr_24h": lambda: f"v1/logs?attr.terminal_id={pick(ds.terminals)}&since=24h",
        "logs_q_24h": lambda: f"v1/logs?q={pick(list(words))}&since=24h",
        "logs_q_24h_absent": lambda: f"v1/logs?q=zebra{rnd.randint(0, 999)}&since=24h",
        "jobs": lambda: "v1/jobs",
        "jobs_recent": lambda: "v1/jobs?recent=20",  # the dashboard's jobs page, sparklines
        "stats_summary_7d": lambda: "v1/stats/summary?days=7",
        "stats_summary_7d_job": lambda: f"v1/stats/summary?days=7&job={pick(jobs)}",
        "stats_jobs_7d": lambda: "v1/stats/jobs?days=7",
        "stats_errors_step_7d": lambda: "v1/stats/errors?days=7&by=step",
        "stats_errors_fingerprint_7d": lambda: "v1/stats/errors?days=7&by=fingerprint",
        "stats_errors_attr_7d": lambda: "v1/stats/errors?days=7&by=attr.terminal_id",
        "stats_errors_job_step_7d": lambda: "v1/stats/errors?days=7&by=job,step",
        "stats_errors_job_step_7d_job": lambda: (
            f"v1/stats/errors?days=7&by=job,step&job={pick(jobs)}"
        ),
        # The Errors view's "Latest runs with it": a group's runs, each once.
        "stats_errors_runs_step_7d": lambda: (
            f"v1/stats/errors/runs?days=7&by=step&key={pick(steps)}"
        ),
        "stats_errors_runs_job_7d": lambda: f"v1/stats/errors/runs?days=7&by=job&key={pick(jobs)}",
        "stats_errors_runs_job_step_7d": lambda: (
            f"v1/stats/errors/runs?days=7&by=job,step&job={pick(jobs)}&key={pick(steps)}"
        ),
        "stats_by_attr_7d": lambda: "v1/stats/by?attr=profile_id&days=7",
        "stats_timeseries_7d_hour": lambda: "v1/stats/timeseries?days=7&bucket=hour",
        "stats_timeseries_30d_day": lambda: "v1/stats/timeseries?days=30&bucket=day",
    }


async def warm_up(dsn: str, days: int) -> None:
    """Read what a long-running server has in memory: the runs and the last week of logs.
    (After a fresh load it is cached already; with --reuse, maybe not.)"""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.fetchval("SELECT count(*) FROM runs")
        await conn.fetchval("SELECT count(*) FROM runs WHERE attrs @> '{}'")
        await conn.fetchval(
            "SELECT count(*) FROM logs WHERE ts >= now() - make_interval(days => $1)",
            min(days, 7),
        )
    finally:
        await conn.close()


#: Answers of these are kept a few seconds by ingestd (stats_cache): each is timed twice,
#: as served, and recomputed every time (`Cache-Control: no-cache`, name + "_uncached").
CACHED = ("jobs", "stats_")


async def measure(
    url: str, ds: Dataset, repeat: int, seed: int, only: tuple[str, ...] = ()
) -> dict[str, dict[str, Any]]:
    rnd = random.Random(seed)
    results: dict[str, dict[str, Any]] = {}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    runs: list[tuple[str, Any, dict[str, str]]] = []
    for name, next_path in endpoints(ds, rnd).items():
        if only and not name.startswith(only):
            continue
        runs.append((name, next_path, {}))
        if name.startswith(CACHED):
            runs.append((f"{name}_uncached", next_path, {"Cache-Control": "no-cache"}))
    async with aiohttp.ClientSession(base_url=url + "/", headers=headers) as http:
        for name, next_path, extra in runs:
            times = []
            items = 0
            for i in range(repeat + 2):
                path = next_path()
                t0 = time.perf_counter()
                async with http.get(path, headers=extra) as answer:
                    body = await answer.read()
                elapsed = (time.perf_counter() - t0) * 1000
                if answer.status != 200:
                    raise RuntimeError(f"{path}: {answer.status} {body[:300]!r}")
                if i >= 2:  # the first calls warm caches and plans
                    times.append(elapsed)
                    doc = orjson.loads(body)
                    items += len(doc.get("items", ())) if isinstance(doc, dict) else 0
            times.sort()
            results[name] = {
                "p50_ms": round(statistics.median(times), 2),
                "p95_ms": round(times[min(len(times) - 1, int(len(times) * 0.95))], 2),
                "max_ms": round(times[-1], 2),
                "items": items / len(times),
            }
    return results


# --- processes ------------------------------------------------------------------------------


async def create_database(admin_dsn: str) -> str:
    from tests.conftest import dsn_for

    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute("CREATE DATABASE bench_read")
    finally:
        await conn.close()
    return dsn_for(admin_dsn, "bench_read")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--logs", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=200_000)
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=40, help="timed calls per endpoint")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--database-url", help="an empty database to load (kept), or --reuse")
    parser.add_argument("--reuse", action="store_true", help="keep an already loaded dataset")
    parser.add_argument(
        "--quick", action="store_true", help="a small smoke run: 100k logs, 2k runs, 5 repeats"
    )
    parser.add_argument(
        "--only",
        default="",
        metavar="PREFIX[,PREFIX]",
        help="time only the endpoints whose names start so (e.g. stats_errors)",
    )
    parser.add_argument(
        "--copy-cost",
        type=int,
        metavar="ROWS",
        help="instead: PostgreSQL CPU per COPYed log row with and without the read indexes",
    )
    parser.add_argument("--cost-rounds", type=int, default=3, help="--copy-cost rounds")
    parser.add_argument(
        "--errors-only",
        action="store_true",
        help="--copy-cost of the error lines of ROWS only (where the error index costs)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.logs, args.runs, args.repeat = 100_000, 2_000, 5
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="ingestd-bench-read-"))
    cluster = None
    server = None
    try:
        if args.copy_cost:
            from tests.pgcluster import ThrowawayCluster

            cluster = ThrowawayCluster.start(work)
            measure_copy_cost(cluster.dsn, args.copy_cost, args.cost_rounds, args.errors_only)
            return 0
        if args.database_url:
            dsn = args.database_url
        else:
            from tests.pgcluster import ThrowawayCluster

            say("starting a throwaway PostgreSQL")
            cluster = ThrowawayCluster.start(work)
            dsn = asyncio.run(create_database(cluster.dsn))
        found = asyncio.run(existing(dsn, args)) if args.reuse else None
        if found is None:
            say(f"loading {args.logs:,} logs, {args.runs:,} runs, {args.jobs} jobs, {args.days}d")
            ds = asyncio.run(load(dsn, args, datetime.now(UTC)))
        else:
            ds, loaded_at = found
            say(f"reusing the dataset loaded at {loaded_at:%Y-%m-%d %H:%M}")
        asyncio.run(warm_up(dsn, args.days))
        server = Ingestd(dsn, work, "read", {"INGESTD_TOKENS": f"{TOKEN}:read,admin"})
        say(f"timing {args.repeat} calls per endpoint")
        only = tuple(p for p in args.only.split(",") if p)
        results = asyncio.run(measure(server.url, ds, args.repeat, args.seed, only))
    finally:
        if server is not None:
            server.stop()
        if cluster is not None:
            cluster.destroy()
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"ingestd read bench: {args.logs:,} logs, {args.runs:,} runs, {args.jobs} jobs, "
        f"{args.days} days, {args.repeat} calls each"
    )
    print(f"{'endpoint':<38} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'items':>6}")
    for name, r in results.items():
        print(
            f"{name:<38} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} {r['max_ms']:>8.1f} "
            f"{r['items']:>6.0f}"
        )
    print(
        json.dumps({k: {"p50_ms": v["p50_ms"], "p95_ms": v["p95_ms"]} for k, v in results.items()})
    )
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
