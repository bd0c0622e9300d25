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
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Ingestd, say  # noqa: E402
from ingestd import database  # noqa: E402
from ingestd.events import LOG_COLUMNS, loose_key  # noqa: E402
from ingestd.fingerprint import fingerprint  # noqa: E402

TOKEN = "bench-read-token"
COPY_BATCH = 20_000
RUN_COLUMNS = (
    "run_id", "job", "status", "trigger", "started_at", "finished_at", "progress", "step",
    "counters", "result", "error", "attrs", "n_trace", "n_debug", "n_info", "n_success",
    "n_warning", "n_error", "n_critical", "last_event_at",
)  # fmt: skip
SEED_JOBS = (
    "vapi-sync", "qci-analysis", "prompt-optimizer", "assistant-sync", "manual-sync",
    "atm-retrieval", "profile-maintenance", "backup-import", "date-range-import",
    "sample-data-import",
)  # fmt: skip
KINDS = ("calls", "terminal", "profile", "import")
STEPS = {
    "calls": ("START", "FETCH", "ANALYZE", "SAVE", "END"),
    "terminal": ("START", "CONNECT", "AUTH", "FETCH", "SAVE", "END"),
    "profile": ("START", "LOGIN", "EDIT", "SAVE", "END"),
    "import": ("START", "READ", "PARSE", "SAVE", "END"),
}
ERROR_STEPS = ("FETCH", "AUTH", "LOGIN", "SAVE")
INFO_TEMPLATES = {
    "START": ("Starting {job} (trigger={trigger})",),
    "FETCH": (
        "Fetched {n} calls from VAPI API page {p}",
        "Fetching terminal {t} data from region R{r}",
        "Fetched {n} records in {ms} ms",
    ),
    "CONNECT": ("Connected to {t} via primary link in {ms} ms",),
    "AUTH": ("Authenticated against terminal {t}",),
    "LOGIN": ("Logged in as profile {u}",),
    "EDIT": ("Updated headline and specialties for profile {u}",),
    "ANALYZE": ("Analyzed call {id} qci_score={p}", "Prompt variant {p} scored {n}"),
    "READ": ("Read {n} bytes from backup-{p}.json",),
    "PARSE": ("Parsed {n} games and {p} results",),
    "SAVE": ("Saved {n} records to database", "Upserted {n} rows into table games"),
    "END": ("Run completed in {ms} ms", "Sync completed: {n} processed, {p} failed"),
}
ERROR_TEMPLATES = {
    "FETCH": (
        ("TimeoutError", "Timeout after {ms} ms fetching https://api.vapi.ai/call?page={p}"),
        ("HTTPError", "HTTP 502 Bad Gateway from upstream terminal {t}"),
    ),
    "AUTH": (("AuthError", "Authentication failed for terminal {t}: code {p}"),),
    "LOGIN": (("LoginError", "Profile '{u}' login failed: invalid credentials"),),
    "SAVE": (
        ("UniqueViolation", 'duplicate key value violates unique constraint "calls_pkey" ({id})'),
        ("OperationalError", "could not connect to server at 10.0.{r}.{p}:5432"),
    ),
}
DEBUG_FILLER = "cache hit ratio {p}% for batch {n}, queue depth {r}"


@dataclass
class Job:
    name: str
    kind: str
    weight: float
    mean_s: float


@dataclass
class Dataset:
    jobs: list[Job]
    run_ids: list[str] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)
    terminals: list[str] = field(default_factory=list)


def make_jobs(n: int, rnd: random.Random) -> list[Job]:
    jobs = []
    for i in range(n):
        name = SEED_JOBS[i] if i < len(SEED_JOBS) else f"job-{i:02d}"
        kind = KINDS[i % len(KINDS)]
        # Skewed: a few jobs run every few minutes, most a few times a day.
        jobs.append(Job(name, kind, 1.0 / (1 + i) ** 0.8, rnd.uniform(2, 600)))
    return jobs


def _fill(template: str, rnd: random.Random, job: str, trigger: str, attrs: dict[str, Any]) -> str:
    x = rnd.random()  # one draw for every number: plenty of variety, a fraction of the cost
    return template.format(
        job=job,
        trigger=trigger,
        n=1 + int(x * 5000),
        p=1 + int(x * 7_919_000) % 400,
        r=int(x * 1e6) % 10,
        ms=5 + int(x * 1e9) % 90_000,
        t=attrs.get("terminal_id", "T0001"),
        u=attrs.get("profile_id", "p0"),
        id=uuid.UUID(int=rnd.getrandbits(128), version=4) if "{id}" in template else "",
    )


def generate(
    ds: Dataset, n_runs: int, n_logs: int, days: int, now: datetime, seed: int
) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    """Yield (runs, logs) COPY records in chunks; logs of a run follow its steps in time."""
    rnd = random.Random(seed)
    span = days * 86400.0
    per_run = max(1, round(n_logs * 0.99 / n_runs))
    ds.profiles = [f"p{i:03d}" for i in range(300)]
    ds.terminals = [f"T{i:04d}" for i in range(400)]
    weights = [j.weight for j in ds.jobs]
    runs: list[tuple[Any, ...]] = []
    logs: list[tuple[Any, ...]] = []
    logs_made = 0
    loose_every = 100  # 1% of logs belong to no run
    # Runs arrive in the order they start, as they do in real life (heap order follows time).
    offsets = sorted((rnd.random() * span for _ in range(n_runs)), reverse=True)
    for index, offset in enumerate(offsets):
        job = rnd.choices(ds.jobs, weights)[0]
        run_id = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
        if index % 200 == 0:
            ds.run_ids.append(run_id)
        started = now - timedelta(seconds=offset)
        duration = min(job.mean_s * rnd.lognormvariate(0, 0.5), 3 * 3600)
        finished: datetime | None = started + timedelta(seconds=duration)
        trigger = rnd.choice(("cron", "cron", "cron", "manual", "api"))
        attrs: dict[str, Any] = {"env": "prod"}
        if job.kind == "profile":
            attrs["profile_id"] = rnd.choice(ds.profiles)
        elif job.kind == "terminal":
            attrs["terminal_id"] = rnd.choice(ds.terminals)
            attrs["region"] = f"R{rnd.randint(0, 9)}"
        elif job.kind == "import":
            attrs["import_type"] = rnd.choice(("backup", "date_range", "sample_data"))
            attrs["filename"] = f"backup-{started:%Y-%m-%d}.json"
        else:
            attrs["project_id"] = f"proj-{rnd.randint(1, 40)}"
        roll = rnd.random()
        status = (
            "success" if roll < 0.90 else "failed" if roll < 0.95 else
            "warning" if roll < 0.98 else "cancelled" if roll < 0.99 else "timed_out"
        )  # fmt: skip
        assert finished is not None
        if finished > now:
            status, finished = "running", None
        steps = STEPS[job.kind]
        n = max(1, int(per_run * rnd.uniform(0.5, 1.5)))
        counts = [0] * 7  # trace debug info success warning error critical
        end = finished or now
        last_ts = started
        for i in range(n):
            frac = i / n
            ts = started + (end - started) * frac
            step = steps[min(len(steps) - 1, int(frac * len(steps)))]
            roll = rnd.random()
            error = source = None
            log_attrs: dict[str, Any] | None = None
            fp = None
            if (roll < 0.05 and step in ERROR_STEPS) or (status == "failed" and i == n - 1):
                levelno = 50 if roll < 0.002 else 40
                templates = ERROR_TEMPLATES.get(step) or ERROR_TEMPLATES["SAVE"]
                etype, template = rnd.choice(templates)
                message = _fill(template, rnd, job.name, trigger, attrs)
                error = orjson.dumps(
                    {"type": etype, "message": message, "stack": f"  File sync.py, line {i}"}
                ).decode()
                fp = fingerprint(etype, message)
                counts[5 if levelno == 40 else 6] += 1
            elif 0.05 <= roll < 0.10:
                levelno = 30
                message = f"Retrying {step.lower()} after {int(roll * 300)} s (attempt 2)"
                counts[4] += 1
            elif roll < 0.30:
                levelno = 10
                message = _fill(DEBUG_FILLER, rnd, job.name, trigger, attrs)
                counts[1] += 1
            else:
                levelno = 20
                message = _fill(rnd.choice(INFO_TEMPLATES[step]), rnd, job.name, trigger, attrs)
                counts[2] += 1
            if roll < 0.5:
                log_attrs = {"count": int(roll * 10_000)}
                for key in ("terminal_id", "profile_id"):
                    if key in attrs:
                        log_attrs[key] = attrs[key]
                source = f'{{"logger": "{job.name}", "module": "sync", "line": {100 + i}}}'
            logs.append(
                (
                    ts, ts + timedelta(milliseconds=30), levelno, job.name, run_id, step,
                    message, None if log_attrs is None else orjson.dumps(log_attrs).decode(),
                    source, error, None, fp,
                )
            )  # fmt: skip
            last_ts = ts
            logs_made += 1
            if logs_made % loose_every == 0:
                loose_ts = ts + timedelta(seconds=rnd.random() * 60)
                logs.append(
                    (
                        loose_ts, loose_ts, 20, job.name, loose_key(job.name), None,
                        f"heartbeat from {job.name} host worker-{rnd.randint(1, 12)}",
                        None, None, None, None, None,
                    )
                )  # fmt: skip
                logs_made += 1
        counters = {
            "records_fetched": rnd.randint(0, 5000),
            "records_inserted": rnd.randint(0, 5000),
            "records_failed": rnd.randint(0, 20),
            "api_cost": round(rnd.random() * 3, 4),
        }
        error_obj = None
        if status == "failed":
            error_obj = orjson.dumps({"type": "RuntimeError", "message": logs[-1][6]}).decode()
        runs.append(
            (
                run_id, job.name, status, trigger, started, finished,
                100.0 if finished else round(rnd.random() * 99, 1), steps[-1] if finished else
                steps[1], orjson.dumps(counters).decode(),
                orjson.dumps({"ok": status == "success"}).decode() if finished else None,
                error_obj, orjson.dumps(attrs).decode(), *counts, last_ts,
            )
        )  # fmt: skip
        if len(logs) >= COPY_BATCH:
            yield runs, logs
            runs, logs = [], []
    if runs or logs:
        yield runs, logs


async def load(dsn: str, args: argparse.Namespace, now: datetime) -> Dataset:
    rnd = random.Random(args.seed)
    ds = Dataset(make_jobs(args.jobs, rnd))
    conn = await asyncpg.connect(dsn)
    try:
        await database.migrate(conn)
        today = now.date()
        days = [today - timedelta(days=d) for d in range(args.days + 1, -4, -1)]
        await database.ensure_partitions(conn, days)
        t0 = time.monotonic()
        total_logs = total_runs = 0
        for runs, logs in generate(ds, args.runs, args.logs, args.days, now, args.seed):
            async with conn.transaction():
                await conn.copy_records_to_table("runs", records=runs, columns=RUN_COLUMNS)
                await conn.copy_records_to_table("logs", records=logs, columns=LOG_COLUMNS)
            total_runs += len(runs)
            total_logs += len(logs)
            if total_runs % 20_000 < len(runs):
                rate = total_logs / (time.monotonic() - t0)
                say(f"  {total_runs:,} runs, {total_logs:,} logs ({rate:,.0f} logs/s)")
        say(f"loaded {total_runs:,} runs and {total_logs:,} logs in {time.monotonic() - t0:.0f}s")
        t1 = time.monotonic()
        await conn.execute("VACUUM (ANALYZE) runs")
        await conn.execute("VACUUM (ANALYZE) logs")
        say(f"VACUUM ANALYZE in {time.monotonic() - t1:.0f}s")
        await conn.execute(
            "CREATE TABLE bench_dataset (params jsonb NOT NULL, loaded_at timestamptz NOT NULL)"
        )
        await conn.execute(
            "INSERT INTO bench_dataset VALUES ($1::jsonb, $2)",
            orjson.dumps(dataset_params(args) | {"run_ids": ds.run_ids}).decode(),
            now,
        )
    finally:
        await conn.close()
    return ds


def dataset_params(args: argparse.Namespace) -> dict[str, Any]:
    return {k: getattr(args, k) for k in ("logs", "runs", "jobs", "days", "seed")}


async def existing(dsn: str, args: argparse.Namespace) -> tuple[Dataset, datetime] | None:
    conn = await asyncpg.connect(dsn)
    try:
        if await conn.fetchval("SELECT to_regclass('bench_dataset')") is None:
            return None
        row = await conn.fetchrow("SELECT params::text, loaded_at FROM bench_dataset")
    finally:
        await conn.close()
    assert row is not None
    params = orjson.loads(row["params"])
    if any(params[k] != v for k, v in dataset_params(args).items()):
        raise SystemExit(f"the database holds another dataset: {params}")
    ds = Dataset(make_jobs(args.jobs, random.Random(args.seed)), run_ids=params["run_ids"])
    ds.profiles = [f"p{i:03d}" for i in range(300)]
    ds.terminals = [f"T{i:04d}" for i in range(400)]
    return ds, row["loaded_at"]


# --- the measurements ---------------------------------------------------------------------


def endpoints(ds: Dataset, rnd: random.Random) -> dict[str, Any]:
    """Endpoint name -> a function giving the next request path (filters vary per call)."""
    jobs = [j.name for j in ds.jobs]
    top_jobs = jobs[:10]
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
        "logs": lambda: "v1/logs",
        "logs_errors_24h": lambda: "v1/logs?min_level=error&since=24h",
        "logs_job": lambda: f"v1/logs?job={pick(jobs)}",
        "logs_job_errors_7d": lambda: f"v1/logs?job={pick(jobs)}&min_level=error&since=7d",
        "logs_step_24h": lambda: "v1/logs?step=SAVE&level=error&since=24h",
        "logs_attr_24h": lambda: f"v1/logs?attr.terminal_id={pick(ds.terminals)}&since=24h",
        "logs_q_24h": lambda: f"v1/logs?q={pick(list(words))}&since=24h",
        "logs_q_24h_absent": lambda: f"v1/logs?q=zebra{rnd.randint(0, 999)}&since=24h",
        "jobs": lambda: "v1/jobs",
        "stats_summary_7d": lambda: "v1/stats/summary?days=7",
        "stats_summary_7d_job": lambda: f"v1/stats/summary?days=7&job={pick(jobs)}",
        "stats_jobs_7d": lambda: "v1/stats/jobs?days=7",
        "stats_errors_step_7d": lambda: "v1/stats/errors?days=7&by=step",
        "stats_errors_fingerprint_7d": lambda: "v1/stats/errors?days=7&by=fingerprint",
        "stats_errors_attr_7d": lambda: "v1/stats/errors?days=7&by=attr.terminal_id",
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


# --- what the read indexes cost at ingest -------------------------------------------------------

COST_VARIANTS: dict[str, list[str]] = {
    "without 002": [],
    "002 alone": [],
    "002 + 005": [],
    "002 + 007 (shipped)": [],
    "+ FTS GIN on message": ["CREATE INDEX ON logs USING gin (to_tsvector('simple', message))"],
    "+ GIN on logs.attrs": ["CREATE INDEX ON logs USING gin (attrs jsonb_path_ops)"],
    "+ logs (job, ts)": ["CREATE INDEX ON logs (job, ts)"],
}


#: Migrations a variant leaves out (005 and 007 rebuild 002's error index, so go with it;
#: 007 replaces 005's index with 002's again and its own).
COST_SKIPPED = {"without 002": (2, 5, 7), "002 alone": (5, 7), "002 + 005": (7,)}


async def _schema(conn: asyncpg.Connection, variant: str) -> None:
    for version, _, text in database.migrations():
        if version in COST_SKIPPED.get(variant, ()):
            continue
        await conn.execute(text)
    for ddl in COST_VARIANTS[variant]:
        await conn.execute(ddl)
    today = datetime.now(UTC).date()
    await database.ensure_partitions(conn, database.partition_days(today, 1))


def _backend_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def copy_cost(
    admin_dsn: str, rows: list[tuple[Any, ...]], variant: str
) -> tuple[float, float]:
    """(backend CPU microseconds per row, rows/s) of COPYing rows in 5000-row batches."""
    from tests.conftest import dsn_for

    name = f"bench_cost_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        conn = await asyncpg.connect(dsn_for(admin_dsn, name))
        try:
            await _schema(conn, variant)
            pid = await conn.fetchval("SELECT pg_backend_pid()")
            cpu0, t0 = _backend_cpu_s(pid), time.monotonic()
            for i in range(0, len(rows), 5000):
                await conn.copy_records_to_table(
                    "logs", records=rows[i : i + 5000], columns=LOG_COLUMNS
                )
            wall, cpu = time.monotonic() - t0, _backend_cpu_s(pid) - cpu0
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE "{name}"')
        await admin.close()
    return cpu / len(rows) * 1e6, len(rows) / wall


def measure_copy_cost(admin_dsn: str, n_rows: int, rounds: int, errors_only: bool) -> None:
    """Median over interleaved rounds, so a noisy neighbour hurts every variant alike.
    `errors_only` COPYs just the error lines of the mix: the error index's work falls on
    those alone, so what it costs stands out of the noise (per line: times the error share)."""
    now = datetime.now(UTC)
    ds = Dataset(make_jobs(50, random.Random(1)))
    rows: list[tuple[Any, ...]] = []
    for _, logs in generate(ds, max(1, n_rows // 50), n_rows, 1, now, 1):
        rows += logs
    what = "seed-shaped log rows"
    if errors_only:
        level = LOG_COLUMNS.index("levelno")
        errors = [row for row in rows if row[level] >= 40]
        what = f"error rows (of {len(rows):,} seed-shaped: {len(errors) / len(rows):.1%})"
        rows = errors
    results: dict[str, list[tuple[float, float]]] = {v: [] for v in COST_VARIANTS}
    for _ in range(rounds):
        for variant in COST_VARIANTS:
            results[variant].append(asyncio.run(copy_cost(admin_dsn, rows, variant)))
    base = statistics.median(cpu for cpu, _ in results["without 002"])
    print(f"COPY of {len(rows):,} {what}, 5000-row batches, median of {rounds}")
    print(f"{'schema':<24} {'PG CPU us/row':>14} {'vs without':>11} {'rows/s':>10}")
    summary = {}
    for variant, runs in results.items():
        cpu = statistics.median(c for c, _ in runs)
        rate = statistics.median(r for _, r in runs)
        print(f"{variant:<24} {cpu:>14.1f} {cpu / base - 1:>+10.0%} {rate:>10,.0f}")
        summary[variant] = {"cpu_us_per_row": round(cpu, 2), "rows_per_s": round(rate)}
    print(json.dumps(summary))


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
