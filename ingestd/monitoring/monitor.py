"""The monitor: notices, without anyone looking, that a job did not run, hangs, failed, or
"succeeded" suspiciously.

Every tick (INGESTD_MONITOR_INTERVAL_S) one replica acts: the one that takes a
transaction-scoped advisory lock (pg_try_advisory_xact_lock). It

1. judges each scheduled job against its latest start: `late` once a run is due and not
   started, `missed` once the grace is over too; a missed slot is recorded as a run of its
   own (status failed, attrs.missed) with an id derived from the slot, so recording it
   twice records it once;
2. marks runs past max_duration, or silent past heartbeat_timeout, `timed_out`;
3. judges the runs that finished since its cursor by the alert rules (rules.py), and marks
   anomalous successes `warning`. A run that reached ingestd long after it ended (history
   loaded afterwards: INGESTD_ALERT_MAX_ARRIVAL_DELAY_S) is judged and marked, but raises
   no alert: it is news to nobody, and dozens of them stamped "now" would bury today's.

Status changes go through the ingest queue like any client's events, so the writer's merge
rules apply and they are ordered with the rest. Alerts are recorded in the same transaction
as the tick's state, keyed per occurrence, and delivered by alerts.Dispatcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from aiohttp import web

from ingestd.db.database import RETRYABLE_ERRORS, Conn
from ingestd.http.problems import Problem
from ingestd.ingest.events import Event, EventError, parse_event
from ingestd.ingest.service import Ingest
from ingestd.monitoring import job_settings, rules, sql, stuck, what_changed
from ingestd.monitoring.alerts import AlertSpec
from ingestd.monitoring.alerts import store as store_alerts
from ingestd.monitoring.clock import Clock
from ingestd.monitoring.job_settings import JobSettings
from ingestd.monitoring.verdicts import HEALTHS, job_standing, judge_schedule, missed_run_id
from ingestd.monitoring.webhooks import Target

log = logging.getLogger("ingestd.monitor")

#: Advisory lock id of the monitor (see database.py for the others).
MONITOR_LOCK = 0x1D6E_0010
#: How far back each tick looks again for runs whose transaction committed late.
OVERLAP = timedelta(seconds=60)
PAGE = 500
MAX_RUNS_PER_TICK = 5000
CURSOR = "finished_runs"
#: A lock holder that hangs loses the lock when PostgreSQL ends its idle transaction.
IDLE_MARGIN_S = 30.0
HEALTH_REFRESH_S = 15.0
#: What a tick waits at most for its failed runs' "what changed" (their alerts go without).
SUMMARY_S = 3.0
_FIRST_UUID = "00000000-0000-0000-0000-000000000000"


@dataclass(slots=True)
class MonitorStats:
    ticks: int = 0
    missed: int = 0
    timed_out: int = 0
    anomalies: int = 0
    #: Finished runs judged without alerts: they arrived long after they ended.
    backfill: int = 0
    stuck: int = 0
    alerts: int = 0
    failed_ticks: int = 0
    #: Judgements of one job that raised (logged with the job); the tick went on without them.
    failed_jobs: int = 0


class CommitTimeout(Exception):
    """The monitor's run events were queued but not committed in time."""


#: What a tick may run into that the next tick may not: log it, carry on.
TICK_ERRORS: tuple[type[BaseException], ...] = (*RETRYABLE_ERRORS, Problem, CommitTimeout)


@dataclass(slots=True)
class _Tick:
    now: datetime
    events: list[Event] = field(default_factory=list)
    alerts: list[AlertSpec] = field(default_factory=list)
    health: list[tuple[str, str, datetime | None]] = field(default_factory=list)
    #: Finished runs judged, with the status judged: remembered once the tick commits.
    judged: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    cursor: datetime | None = None
    #: Jobs whose judgement raised: left out of the rest of the tick.
    broken: set[str] = field(default_factory=set)


class Monitor:
    def __init__(
        self,
        pool: asyncpg.Pool,
        ingest: Ingest,
        clock: Clock,
        *,
        interval_s: float,
        commit_wait_s: float,
        max_arrival_delay: timedelta = timedelta(days=1),
        global_targets: tuple[Target, ...] = (),
        summarize: what_changed.Summarize | None = None,
        on_alerts: Callable[[], None] | None = None,
    ) -> None:
        self.pool = pool
        self.ingest = ingest
        self.clock = clock
        self.interval_s = interval_s
        self.commit_wait_s = commit_wait_s
        self.max_arrival_delay = max_arrival_delay
        self.global_targets = global_targets
        self.on_alerts = on_alerts
        self.summarize = summarize
        self.stats = MonitorStats()
        #: Jobs by health as last counted (for /metrics); every replica counts.
        self.health_counts: dict[str, int] = {}
        self._health_counted_at = float("-inf")
        # Finished runs judged lately, with the status judged: a tick reads OVERLAP again
        # and skips these unless their status changed since.
        self._seen: dict[str, tuple[str, datetime]] = {}

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
                if time.monotonic() - self._health_counted_at >= HEALTH_REFRESH_S:
                    await self.count_health()
            except TICK_ERRORS as exc:
                self.stats.failed_ticks += 1
                log.warning("monitor tick failed, retrying next tick: %r", exc)
            except Exception:
                self.stats.failed_ticks += 1
                log.exception("monitor tick failed")
            await asyncio.sleep(self.interval_s)

    async def tick(self) -> bool:
        """Act once, if no other monitor is acting right now; whether this one did."""
        tick = _Tick(self.clock.now())
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", MONITOR_LOCK):
                return False
            # While it waits for the writer, the transaction is idle; past that, it hangs.
            idle_ms = int((self.commit_wait_s + IDLE_MARGIN_S) * 1000)
            await conn.execute(f"SET LOCAL idle_in_transaction_session_timeout = {idle_ms}")
            self.stats.ticks += 1
            jobs = await conn.fetch(sql.MONITORED_JOBS)
            settings: dict[str, JobSettings] = {}
            for row in jobs:
                with self._alone(tick, row["job"], "its settings cannot be read"):
                    settings[row["job"]] = job_settings.from_row(row)
                if row["job"] in settings:
                    with self._alone(tick, row["job"], "its schedule cannot be judged"):
                        self._judge_schedule(tick, settings[row["job"]], row)
            await self._judge_active_runs(conn, tick, settings)
            await self._submit(tick)
            # After the timeouts are committed: a run just timed out is no longer running.
            found = await stuck.alerts(conn, tick.now, settings, self._targets, tick.broken)
            self.stats.stuck += len(found)
            tick.alerts.extend(found)
            await self._judge_finished_runs(conn, tick, settings)
            await self._submit(tick)
            if self.summarize is not None:
                tick.alerts = await what_changed.added(tick.alerts, self.summarize, SUMMARY_S)
            new = await store_alerts(conn, tick.alerts, tick.now)
            if tick.health:
                names, healths, dues = (list(c) for c in zip(*tick.health, strict=True))
                await conn.execute(sql.SET_JOB_HEALTH, names, healths, dues, tick.now)
        self._seen.update(tick.judged)
        if tick.cursor is not None:
            horizon = tick.cursor - OVERLAP
            self._seen = {k: v for k, v in self._seen.items() if v[1] >= horizon}
        self.stats.alerts += new
        if new and self.on_alerts is not None:
            self.on_alerts()
        return True

    @contextlib.contextmanager
    def _alone(self, tick: _Tick, job: str, what: str) -> Iterator[None]:
        """One job's judgement: should it raise, the job is left out of this tick (logged and
        counted), and the other jobs are judged. The database's errors end the tick as ever."""
        try:
            yield
        except TICK_ERRORS:
            raise
        except Exception:
            self.stats.failed_jobs += 1
            tick.broken.add(job)
            log.exception("monitor: job %r left out of this tick: %s", job, what)

    def _judge_schedule(self, tick: _Tick, settings: JobSettings, row: asyncpg.Record) -> None:
        verdict = judge_schedule(
            settings,
            last_started=row["last_started_at"],
            last_is_missed=bool(row["last_is_missed"]),
            schedule_set_at=row["schedule_set_at"],
            last_ended_status=row["last_ended_status"],
            now=tick.now,
        )
        tick.health.append((settings.job, verdict.health, verdict.due_at))
        slot = verdict.missed_slot
        if slot is None:
            return
        self.stats.missed += 1
        ends = slot.isoformat()
        tick.events.append(
            self._event(
                {
                    "kind": "run",
                    "run_id": missed_run_id(settings.job, slot),
                    "job": settings.job,
                    "status": "failed",
                    "trigger": "schedule",
                    "started_at": ends,
                    "finished_at": ends,
                    "error": {
                        "type": "Missed",
                        "message": f"no run started by {(slot + settings.grace).isoformat()} "
                        f"(due {ends}, grace {rules.span_text(settings.grace)})",
                    },
                    "attrs": {"missed": True, "missed_runs": verdict.missed_count},
                },
                tick.now,
            )
        )

    async def _judge_active_runs(
        self, conn: Conn, tick: _Tick, settings: dict[str, JobSettings]
    ) -> None:
        watched = [j for j, s in settings.items() if s.max_duration or s.heartbeat_timeout]
        if not watched:
            return
        for run in await conn.fetch(sql.ACTIVE_RUNS, watched):
            if run["job"] not in tick.broken:
                with self._alone(tick, run["job"], "its running runs cannot be judged"):
                    self._judge_active(tick, settings[run["job"]], run)

    def _judge_active(self, tick: _Tick, s: JobSettings, run: asyncpg.Record) -> None:
        silent_since = run["last_event_at"] or run["started_at"]
        if s.max_duration is not None and tick.now - run["started_at"] > s.max_duration:
            kind, why = "max_duration", f"ran longer than {rules.span_text(s.max_duration)}"
        elif s.heartbeat_timeout is not None and tick.now - silent_since > s.heartbeat_timeout:
            kind = "heartbeat_timeout"
            why = f"silent for longer than {rules.span_text(s.heartbeat_timeout)}"
        else:
            return
        self.stats.timed_out += 1
        log.info("run %s of %s timed out: %s", run["run_id"], run["job"], why)
        tick.events.append(
            self._event(
                {
                    "kind": "run",
                    "run_id": run["run_id"],
                    "status": "timed_out",
                    "finished_at": tick.now.isoformat(),
                    "error": {"type": "TimedOut", "message": why},
                    "attrs": {"timed_out": kind},
                },
                tick.now,
            )
        )

    async def _judge_finished_runs(
        self, conn: Conn, tick: _Tick, settings: dict[str, JobSettings]
    ) -> None:
        cursor: datetime | None = await conn.fetchval(sql.GET_CURSOR, CURSOR)
        if cursor is None:  # first start: judge from now on, not the whole history
            cursor = await conn.fetchval("SELECT now()")
            assert cursor is not None
        after: tuple[datetime, str] = (cursor - OVERLAP, _FIRST_UUID)
        newest, read = cursor, 0
        while read < MAX_RUNS_PER_TICK:
            rows = await conn.fetch(sql.FINISHED_SINCE, *after, PAGE)
            read += len(rows)
            for run in rows:
                newest = max(newest, run["updated_at"])
                await self._judge_finished(conn, tick, settings, run)
            if len(rows) < PAGE:
                break
            after = (rows[-1]["updated_at"], rows[-1]["run_id"])
        await conn.execute(sql.SET_CURSOR, CURSOR, newest)
        tick.cursor = newest

    async def _judge_finished(
        self, conn: Conn, tick: _Tick, settings: dict[str, JobSettings], run: asyncpg.Record
    ) -> None:
        run_id, status = run["run_id"], run["status"]
        seen = self._seen.get(run_id)
        if (seen is not None and seen[0] == status) or run["job"] in tick.broken:
            return  # a broken job's runs are not remembered: read again, within OVERLAP
        s = settings.get(run["job"]) or JobSettings(run["job"])
        with self._alone(tick, run["job"], f"its run {run_id} cannot be judged"):
            alerts, mark = await rules.judge_run(conn, run, s, self._targets(s))
        if run["job"] in tick.broken:
            return
        tick.judged[run_id] = (status, run["updated_at"])
        if self._backfilled(run):
            self.stats.backfill += 1
            log.debug("run %s of %s arrived long after it ended: no alert", run_id, run["job"])
        else:
            tick.alerts.extend(alerts)
        if mark is not None:
            self.stats.anomalies += 1
            tick.events.append(self._event(mark, tick.now))

    def _backfilled(self, run: asyncpg.Record) -> bool:
        """Whether the run reached ingestd more than max_arrival_delay after it ended (by
        its commit time, not the tick's: a monitor that was down still alerts on runs that
        came in time). The monitor's own missed-slot records are always news."""
        if not self.max_arrival_delay or run["finished_at"] is None:
            return False
        if run["run_id"] == missed_run_id(run["job"], run["started_at"]):
            return False
        return bool(run["updated_at"] - run["finished_at"] > self.max_arrival_delay)

    def _targets(self, settings: JobSettings) -> tuple[Target, ...]:
        return rules.targets_for(settings, self.global_targets)

    def _event(self, obj: dict[str, Any], now: datetime) -> Event:
        try:
            return parse_event(obj, now, self.ingest.limits)
        except EventError as exc:  # our own event: a bug, say so plainly
            raise AssertionError(f"the monitor made an invalid event: {exc}") from exc

    async def _submit(self, tick: _Tick) -> None:
        """Queue the tick's run events and wait for their commit (bounded)."""
        if not tick.events:
            return
        events, tick.events = tick.events, []
        done = await self.ingest.submit(events, 256 * len(events), {}, wait=True)
        assert done is not None
        try:
            await asyncio.wait_for(asyncio.shield(done), self.commit_wait_s)
        except TimeoutError:
            raise CommitTimeout(f"{len(events)} run events not committed yet") from None

    async def count_health(self) -> dict[str, int]:
        """Count every job by health, for /metrics (any replica, lock or not), by the
        function /v1/jobs uses, so both count the same."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(sql.ALL_JOBS_HEALTH)
            hung = await stuck.stuck_runs(conn, self.clock.now())
        counts = dict.fromkeys(HEALTHS, 0)
        for row in rows:
            standing = job_standing(
                row["monitored"],
                row["last_ended_status"],
                scheduled=row["scheduled"],
                has_run=row["has_run"],
                stuck_run=hung.get(row["job"]),
            )
            counts[standing["health"]] += 1
        self.health_counts = counts
        self._health_counted_at = time.monotonic()
        return counts


MONITOR = web.AppKey("monitor", Monitor)
