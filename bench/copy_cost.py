"""What the read indexes cost at ingest (bench/read.py --copy-cost): the PostgreSQL
backend's CPU time per log row COPYed (from /proc, so a busy machine skews it less than wall
time), for each schema variant, in a fresh database each time, over interleaved rounds."""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from bench.read_dataset import Dataset, generate, make_jobs
from ingestd.db import database
from ingestd.ingest.events import LOG_COLUMNS

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
