"""Watching the jobs, wired into the app: the monitor, alert delivery and retention as
background tasks of one cleanup_ctx (after the writer's, so they stop before it drains),
and their figures on /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta

from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ingestd.background import spawn
from ingestd.db.database import POOL, SCHEMA_READY, Conn, connection_gone
from ingestd.http.problems import Problem
from ingestd.ingest.service import INGEST
from ingestd.metrics import METRICS
from ingestd.monitoring import what_changed
from ingestd.monitoring.alerts import DISPATCHER, Dispatcher
from ingestd.monitoring.clock import CLOCK, Clock
from ingestd.monitoring.monitor import MONITOR, SUMMARY_S, Monitor
from ingestd.monitoring.retention import RETENTION, Retention
from ingestd.read.db import ReadDb
from ingestd.settings import SETTINGS

log = logging.getLogger("ingestd.monitor")

DB_TIMEOUT_S = 10.0


async def monitor_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    clock = app[CLOCK] = Clock()
    dispatcher = app[DISPATCHER] = Dispatcher(
        app[POOL],
        clock,
        timeout_s=settings.alert_timeout_s,
        max_attempts=settings.alert_max_attempts,
        retry_base_s=settings.alert_retry_base_s,
        allow_private=settings.webhook_allow_private,
        idle_s=max(settings.monitor_interval_s, 1.0),
    )
    app[MONITOR] = Monitor(
        app[POOL],
        app[INGEST],
        clock,
        interval_s=settings.monitor_interval_s,
        commit_wait_s=settings.commit_wait_s,
        max_arrival_delay=timedelta(seconds=settings.alert_max_arrival_delay_s),
        global_targets=settings.alert_webhooks + settings.alert_apprise_urls,
        # Its own two reads at most, so a busy read API never starves the monitor's.
        summarize=what_changed.summarizer(ReadDb(app[POOL], 2, timeout_s=SUMMARY_S)),
        on_alerts=dispatcher.wake,
    )
    app[RETENTION] = Retention(
        app[POOL],
        clock,
        logs_days=settings.retention_logs_days,
        kept_logs_days=settings.retention_failed_logs_days,
        runs_days=settings.retention_runs_days,
        interval_s=settings.retention_interval_s,
    )
    app[METRICS].registry.register(_WatchMetrics(app))

    async def after_schema(run: Callable[[], Awaitable[None]]) -> None:
        await app[SCHEMA_READY].wait()
        await run()

    runners = (("monitor", app[MONITOR].run), ("alerts", dispatcher.run),
               ("retention", app[RETENTION].run))  # fmt: skip
    tasks = [spawn(after_schema(run), name) for name, run in runners]
    yield
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await dispatcher.close()


@contextlib.asynccontextmanager
async def connection(request: web.Request) -> AsyncIterator[Conn]:
    """A pooled connection for a handler; the database away is a 503, not a 500."""
    try:
        async with request.app[POOL].acquire(timeout=DB_TIMEOUT_S) as conn:
            yield conn
    except Exception as exc:
        if not connection_gone(exc):  # a bug: a logged 500, not an outage
            raise
        raise Problem(
            503,
            "Service Unavailable",
            f"the database is unreachable ({type(exc).__name__})",
            headers={"Retry-After": "2"},
        ) from exc


class _WatchMetrics(Collector):
    """Read from the monitor, dispatcher and retention when Prometheus scrapes."""

    def __init__(self, app: web.Application) -> None:
        self.app = app

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        app = self.app
        if MONITOR not in app:
            return
        monitor, deliveries, retention = app[MONITOR], app[DISPATCHER].stats, app[RETENTION]
        jobs = GaugeMetricFamily("ingestd_jobs", "Jobs by health.", labels=["health"])
        for health, count in sorted(monitor.health_counts.items()):
            jobs.add_metric([health], count)
        yield jobs
        counters = {
            "ingestd_alerts_raised": ("Alerts recorded by this replica's monitor.",
                                      monitor.stats.alerts),
            "ingestd_alerts_sent": ("Alert deliveries a webhook accepted.", deliveries.sent),
            "ingestd_alerts_failed": ("Alert deliveries given up after the last retry.",
                                      deliveries.failed),
            "ingestd_alert_attempts_failed": ("Failed delivery attempts (each retried).",
                                              deliveries.errors),
            "ingestd_monitor_ticks": ("Ticks in which this replica's monitor acted.",
                                      monitor.stats.ticks),
            "ingestd_monitor_failed_ticks": ("Monitor ticks that failed (retried next tick).",
                                             monitor.stats.failed_ticks),
            "ingestd_monitor_job_failures": ("Jobs left out of a tick because judging them "
                                             "raised (logged with the job).",
                                             monitor.stats.failed_jobs),
            "ingestd_runs_missed": ("Missed runs recorded.", monitor.stats.missed),
            "ingestd_runs_timed_out": ("Runs marked timed_out by the monitor.",
                                       monitor.stats.timed_out),
            "ingestd_runs_anomalous": ("Successful runs marked warning as anomalies.",
                                       monitor.stats.anomalies),
            "ingestd_monitor_backfill_runs": ("Finished runs judged without alerts: they "
                                              "arrived long after they ended (a backfill).",
                                              monitor.stats.backfill),
            "ingestd_retention_partitions_dropped": ("Log day partitions dropped.",
                                                     retention.stats.partitions_dropped),
            "ingestd_retention_log_rows_removed": ("Log rows removed by retention.",
                                                   retention.stats.log_rows_removed),
            "ingestd_retention_log_rows_kept": (
                "Log rows of failed/warning runs kept past the logs' retention.",
                retention.stats.log_rows_kept),
            "ingestd_retention_runs_deleted": ("Runs deleted by retention.",
                                               retention.stats.runs_deleted),
        }  # fmt: skip
        for name, (text, value) in counters.items():
            yield CounterMetricFamily(name, text, value=value)
        yield GaugeMetricFamily(
            "ingestd_retention_last_run_timestamp_seconds",
            "When retention last ran here (0: not yet).",
            value=retention.stats.last_run_at,
        )
