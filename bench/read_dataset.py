"""The read benchmark's dataset (bench/read.py): jobs, runs and log lines shaped like the
seeds' (call syncing, ATM terminals, profile upkeep, imports: runs with steps, counters and
attrs such as profile_id / terminal_id; about 2% of lines at error level across a few steps;
1% of lines outside any run), generated from a seed and loaded with binary COPY, then
VACUUM ANALYZE (what autovacuum does on its own after a load). `existing` finds one loaded
before, so --reuse skips the load."""

from __future__ import annotations

import argparse
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import orjson

from bench.common import say
from ingestd.db import database
from ingestd.ingest.events import LOG_COLUMNS, loose_key
from ingestd.ingest.fingerprint import fingerprint

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
                    source, error, None, fp, None,
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
                        None, None, None, None, None, None,
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
