"""Retention: old logs go a whole day partition at a time; failed runs' logs stay longer.

Every INGESTD_RETENTION_INTERVAL_S one replica (advisory lock) looks at the day partitions
of logs:

- a day older than INGESTD_RETENTION_LOGS_DAYS is dropped (detach + drop: no row is
  visited, nothing bloats), except that the logs of its failed, timed-out and warning runs
  are first copied into a new, small partition for the same day, `logs_kYYYYMMDD` (found
  through the primary key by run id, so the copy costs what is kept, not the day's size);
- a kept day older than INGESTD_RETENTION_FAILED_LOGS_DAYS is dropped whole;
- stray rows in the default partition are deleted row by row (there are few);
- runs (and their alerts) older than INGESTD_RETENTION_RUNS_DAYS are deleted in batches, so
  history and stats outlive the log lines.

What it removed is logged and counted on /metrics.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import asyncpg
from aiohttp import web

from ingestd.db.database import PARTITION_LOCK, RETRYABLE_ERRORS, Conn
from ingestd.monitoring import sql
from ingestd.monitoring.clock import Clock

log = logging.getLogger("ingestd.retention")

RETENTION_LOCK = 0x1D6E_0011
#: How long before a day a run may have started and still write logs into it.
RUN_SPAN = timedelta(days=7)
#: How long a partition swap may wait for its lock on logs (writes wait behind it).
LOCK_TIMEOUT = "5s"
RUNS_BATCH = 10_000
FIRST_RUN_DELAY_S = 60.0
_DAY = re.compile(r"logs_([pk])(\d{4})(\d{2})(\d{2})\Z")


@dataclass(slots=True)
class Report:
    dropped: list[str] = field(default_factory=list)
    #: Day partitions swapped for the logs of their failed/warning runs: name -> rows kept.
    reduced: dict[str, int] = field(default_factory=dict)
    log_rows_removed: int = 0
    runs_deleted: int = 0
    alerts_deleted: int = 0
    busy: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(slots=True)
class RetentionStats:
    runs: int = 0
    partitions_dropped: int = 0
    log_rows_removed: int = 0
    log_rows_kept: int = 0
    runs_deleted: int = 0
    last_run_at: float = 0.0


def day_partitions(names: list[str]) -> list[tuple[date, str, str]]:
    """(day, kind, name) of the day partitions, oldest first; kind 'p' full, 'k' kept."""
    found = []
    for name in names:
        match = _DAY.match(name)
        if match:
            day = date(int(match[2]), int(match[3]), int(match[4]))
            found.append((day, match[1], name))
    return sorted(found)


def _start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _rows(status: str) -> int:
    return int(status.split()[-1])


class Retention:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        *,
        logs_days: int,
        kept_logs_days: int,
        runs_days: int,
        interval_s: float,
    ) -> None:
        self.pool = pool
        self.clock = clock
        self.logs_days = logs_days
        # Failed runs' logs are never kept for less time than the others.
        self.kept_logs_days = 0 if kept_logs_days == 0 else max(kept_logs_days, logs_days)
        self.runs_days = runs_days
        self.interval_s = interval_s
        self.stats = RetentionStats()

    async def run(self) -> None:
        await asyncio.sleep(min(FIRST_RUN_DELAY_S, self.interval_s))
        while True:
            try:
                await self.run_once()
            except RETRYABLE_ERRORS as exc:
                log.warning("retention failed, trying again next time: %r", exc)
            await asyncio.sleep(self.interval_s)

    async def run_once(self) -> Report | None:
        """Apply retention now; None if another replica is doing it."""
        now = self.clock.now()
        started = time.monotonic()
        report = Report()
        async with self.pool.acquire() as conn:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", RETENTION_LOCK):
                return None
            try:
                if self.logs_days:
                    await self._logs(conn, now, report)
                if self.runs_days:
                    await self._runs(conn, now, report)
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", RETENTION_LOCK)
        report.seconds = time.monotonic() - started
        self._record(report)
        return report

    async def _logs(self, conn: Conn, now: datetime, report: Report) -> None:
        logs_cutoff = now - timedelta(days=self.logs_days)
        kept_cutoff = now - timedelta(days=self.kept_logs_days) if self.kept_logs_days else None
        names = [r["name"] for r in await conn.fetch(sql.LOG_PARTITIONS)]
        for day, kind, name in day_partitions(names):
            end = _start(day) + timedelta(days=1)
            if end > logs_cutoff:
                break
            keep_any = kept_cutoff is None or end > kept_cutoff
            if kind == "k" and keep_any:
                continue  # already holds only what is kept
            try:
                if keep_any:
                    removed, kept = await _swap_for_kept(conn, day, name)
                    report.log_rows_removed += removed
                    if kept:
                        report.reduced[name] = kept
                    else:
                        report.dropped.append(name)
                else:
                    report.log_rows_removed += await _drop(conn, name)
                    report.dropped.append(name)
            except asyncpg.LockNotAvailableError:
                report.busy.append(name)  # logs busy right now: next time
        status = await conn.execute(
            sql.DELETE_DEFAULT_LOGS, logs_cutoff, kept_cutoff or datetime.min.replace(tzinfo=UTC)
        )
        report.log_rows_removed += _rows(status)

    async def _runs(self, conn: Conn, now: datetime, report: Report) -> None:
        cutoff = now - timedelta(days=self.runs_days)
        while True:
            deleted = _rows(await conn.execute(sql.DELETE_OLD_RUNS, cutoff, RUNS_BATCH))
            report.runs_deleted += deleted
            if deleted < RUNS_BATCH:
                break
        report.alerts_deleted = _rows(await conn.execute(sql.DELETE_OLD_ALERTS, cutoff))

    def _record(self, report: Report) -> None:
        stats = self.stats
        stats.runs += 1
        stats.partitions_dropped += len(report.dropped) + len(report.reduced)
        stats.log_rows_removed += report.log_rows_removed
        stats.log_rows_kept += sum(report.reduced.values())
        stats.runs_deleted += report.runs_deleted
        stats.last_run_at = time.time()
        if report.dropped or report.reduced or report.log_rows_removed or report.runs_deleted:
            log.info(
                "retention: dropped %d log partitions%s, kept %d rows of failed/warning runs "
                "in %s; %d log rows removed, %d runs and %d alerts deleted (%.2fs)",
                len(report.dropped) + len(report.reduced),
                f" ({', '.join(report.dropped + list(report.reduced))})",
                sum(report.reduced.values()),
                ", ".join(f"logs_k{n[6:]}" for n in report.reduced) or "none",
                report.log_rows_removed,
                report.runs_deleted,
                report.alerts_deleted,
                report.seconds,
            )
        if report.busy:
            log.warning("retention: logs busy, %s left for next time", ", ".join(report.busy))


def _checked(name: str) -> str:
    # Identifiers cannot be parameters: names come from the catalog and are checked.
    if _DAY.match(name) is None:
        raise ValueError(f"not a day partition of logs: {name!r}")
    return name


async def _drop(conn: Conn, name: str) -> int:
    """Detach and drop one day partition; how many rows it held."""
    name = _checked(name)
    async with conn.transaction():
        await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        await conn.execute("SELECT pg_advisory_xact_lock($1)", PARTITION_LOCK)
        count: int = await conn.fetchval(f"SELECT count(*) FROM {name}")
        await conn.execute(f"ALTER TABLE logs DETACH PARTITION {name}")
        await conn.execute(f"DROP TABLE {name}")
    return count


async def _swap_for_kept(conn: Conn, day: date, name: str) -> tuple[int, int]:
    """Replace a day partition by one holding only its failed/warning runs' logs, in one
    transaction; (rows removed, rows kept)."""
    name = _checked(name)
    kept_name = _checked(f"logs_k{day:%Y%m%d}")
    start = _start(day)
    end = start + timedelta(days=1)
    async with conn.transaction():
        await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        await conn.execute("SELECT pg_advisory_xact_lock($1)", PARTITION_LOCK)
        runs = [r["run_id"] for r in await conn.fetch(sql.KEPT_RUNS_OF_DAY, start, end, RUN_SPAN)]
        total: int = await conn.fetchval(f"SELECT count(*) FROM {name}")
        kept = 0
        if runs:
            await conn.execute(f"CREATE TABLE {kept_name} (LIKE logs INCLUDING DEFAULTS)")
            kept = _rows(
                await conn.execute(
                    f"INSERT INTO {kept_name} SELECT * FROM {name} WHERE run_id = ANY($1::uuid[])",
                    runs,
                )
            )
        await conn.execute(f"ALTER TABLE logs DETACH PARTITION {name}")
        await conn.execute(f"DROP TABLE {name}")
        if kept:
            await conn.execute(
                f"ALTER TABLE logs ATTACH PARTITION {kept_name} "
                f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            )
        elif runs:
            await conn.execute(f"DROP TABLE {kept_name}")
    return total - kept, kept


RETENTION = web.AppKey("retention", Retention)
