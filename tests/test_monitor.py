"""The monitor: late and missed jobs, timed-out runs, one actor among replicas."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from ingestd.monitoring.job_settings import JobSettings
from ingestd.monitoring.monitor import MONITOR
from ingestd.monitoring.schedules import Schedule
from ingestd.monitoring.verdicts import job_health, judge_schedule
from ingestd.monitoring.webhooks import Target
from tests.conftest import Served
from tests.monitor_helpers import (
    Receiver,
    advance,
    alerts,
    deliver,
    eventually,
    freeze,
    job,
    put_job,
    receiver,
    run,
    send,
    tick,
)

__all__ = ["receiver"]  # the fixture

Factory = Callable[..., Awaitable[Served]]


async def watched(server_factory: Factory, hook: Receiver, **overrides: object) -> Served:
    """ingestd whose monitor ticks only when a test says so, alerting to `hook`."""
    overrides.setdefault("monitor_interval_s", 3600)
    overrides.setdefault("webhook_allow_private", True)  # the receiver is on 127.0.0.1
    return await server_factory(alert_webhooks=(Target(hook.url),), **overrides)


async def missed_runs(server: Served, name: str) -> list[datetime]:
    rows = await server.db.fetch(
        """SELECT started_at FROM runs WHERE job = $1 AND attrs @> '{"missed": true}'
           AND status = 'failed' ORDER BY started_at""",
        name,
    )
    return [r["started_at"] for r in rows]


async def test_a_job_every_minute_that_stops_goes_late_then_missed_and_one_webhook_arrives(
    server_factory: Factory, receiver: Receiver
) -> None:
    server = await watched(server_factory, receiver)
    t0 = freeze(server)
    await put_job(server, "heartbeat", every="1m", grace="30s")
    await send(server, run("heartbeat", t0, seconds=2))
    await tick(server)
    assert (await job(server, "heartbeat"))["health"] == "ok"

    advance(server, seconds=70)  # due at t0+60, grace until t0+90
    await tick(server)
    document = await job(server, "heartbeat")
    assert document["health"] == "late"
    assert document["due_at"] == (t0 + timedelta(minutes=1)).isoformat()
    assert await missed_runs(server, "heartbeat") == []

    advance(server, seconds=25)
    await tick(server)
    assert (await job(server, "heartbeat"))["health"] == "missed"
    assert await missed_runs(server, "heartbeat") == [t0 + timedelta(minutes=1)]
    [alert] = await receiver.wait_for(1)
    assert alert["rule"] == "missed"
    assert alert["job"] == "heartbeat"
    assert "heartbeat: missed its run due at" in alert["text"]

    await tick(server)  # judging again changes nothing
    assert await deliver(server) == 0
    assert len(receiver.received) == 1
    assert await missed_runs(server, "heartbeat") == [t0 + timedelta(minutes=1)]

    await server.app[MONITOR].count_health()
    async with server.http.get("metrics") as answer:
        assert 'ingestd_jobs{health="missed"} 1.0' in await answer.text()


async def test_a_missed_streak_alerts_once_and_a_run_ends_it(
    server_factory: Factory, receiver: Receiver
) -> None:
    server = await watched(server_factory, receiver)
    t0 = freeze(server)
    await put_job(server, "every-minute", every="1m", grace="10s")
    await send(server, run("every-minute", t0, seconds=1))
    for _ in range(3):  # three slots in a row go by without a start
        advance(server, seconds=60)
        await tick(server)
    assert len(await missed_runs(server, "every-minute")) == 2
    advance(server, seconds=15)
    await tick(server)
    assert len(await missed_runs(server, "every-minute")) == 3
    assert (await job(server, "every-minute"))["health"] == "missed"

    async with server.http.get("ping/every-minute") as answer:  # it runs again
        assert answer.status == 200
    await tick(server)
    assert (await job(server, "every-minute"))["health"] == "ok"
    received = await receiver.wait_for(2)
    assert [a["rule"] for a in received] == ["missed", "recovered"]
    assert [a["rule"] for a in await alerts(server)] == ["recovered", "missed"]


async def test_a_long_silence_is_one_missed_run_counting_the_slots(
    server_factory: Factory, receiver: Receiver
) -> None:
    server = await watched(server_factory, receiver)
    t0 = freeze(server, datetime.now(UTC).replace(minute=10, second=0, microsecond=0))
    await put_job(server, "hourly", cron="0 * * * *", grace="5m")
    start = t0.replace(minute=0)
    await send(server, run("hourly", start, seconds=30))
    advance(server, hours=5)
    await tick(server)
    assert await missed_runs(server, "hourly") == [start + timedelta(hours=5)]
    [alert] = await receiver.wait_for(1)
    assert alert["details"]["missed_runs"] == 5


async def test_a_run_past_max_duration_is_timed_out_and_alerted(
    server_factory: Factory, receiver: Receiver
) -> None:
    server = await watched(server_factory, receiver)
    t0 = freeze(server)
    await put_job(server, "slow", max_duration="10m")
    stuck = run("slow", t0, status="running", seconds=None)
    fine = run("slow", t0 + timedelta(minutes=5), status="running", seconds=None)
    await send(server, stuck, fine)
    advance(server, minutes=9)
    await tick(server)
    advance(server, minutes=2)
    await tick(server)
    statuses = {
        r["run_id"]: (r["status"], r["attrs"], r["finished_at"])
        for r in await server.db.fetch(
            "SELECT run_id::text, status, attrs::text, finished_at FROM runs WHERE job = 'slow'"
        )
    }
    assert statuses[stuck["run_id"]] == (
        "timed_out",
        '{"timed_out": "max_duration"}',
        t0 + timedelta(minutes=11),
    )
    assert statuses[fine["run_id"]][0] == "running"
    [alert] = await receiver.wait_for(1)
    assert alert["rule"] == "timed_out"
    assert alert["run_id"] == stuck["run_id"]
    assert "ran longer than 10 min" in alert["text"]


async def test_a_run_silent_past_heartbeat_timeout_is_timed_out(
    server_factory: Factory, receiver: Receiver
) -> None:
    server = await watched(server_factory, receiver)
    t0 = freeze(server)
    await put_job(server, "chatty", heartbeat_timeout="2m")
    beating = run("chatty", t0, status="running", seconds=None, ts=t0.isoformat())
    silent = run("chatty", t0, status="running", seconds=None, ts=t0.isoformat())
    await send(server, beating, silent)
    beat = advance(server, seconds=90)
    await send(server, {"kind": "run", "run_id": beating["run_id"], "ts": beat.isoformat()})
    advance(server, seconds=60)
    await tick(server)
    rows = await server.db.fetch(
        "SELECT run_id::text, status FROM runs WHERE job = 'chatty' ORDER BY status"
    )
    assert {r["run_id"]: r["status"] for r in rows} == {
        beating["run_id"]: "running",
        silent["run_id"]: "timed_out",
    }


async def test_two_monitors_on_one_database_send_one_alert(
    server_factory: Factory, receiver: Receiver
) -> None:
    first = await watched(server_factory, receiver, monitor_interval_s=0.02)
    second = await watched(
        server_factory, receiver, dsn=first.settings.database_url, monitor_interval_s=0.02
    )
    t0 = freeze(first)
    freeze(second, t0)
    await put_job(first, "shared", every="1m", grace="10s")
    await send(second, run("shared", t0, seconds=1))
    for server in (first, second):
        advance(server, seconds=75)
    await receiver.wait_for(1)
    # Both keep ticking (and acting, turn about) for a while: nothing is sent again.
    monitors = [s.app[MONITOR] for s in (first, second)]
    ticks = [m.stats.ticks for m in monitors]
    await eventually(
        lambda: all(m.stats.ticks >= n + 5 for m, n in zip(monitors, ticks, strict=True))
    )
    for server in (first, second):
        await deliver(server)
    assert receiver.attempts == 1
    assert len(await missed_runs(first, "shared")) == 1
    assert len(await alerts(first)) == 1


@pytest.mark.parametrize(
    ("column", "stored"),
    [
        ("cron", "0 0 30 2 *"),  # stored before impossible cron lines were refused
        ("timezone", "Mars/Olympus"),
        ("anomaly", '{"k": "high"}'),
    ],
)
async def test_one_job_that_cannot_be_judged_does_not_stop_the_others(
    server_factory: Factory, receiver: Receiver, caplog: pytest.LogCaptureFixture, column: str,
    stored: str
) -> None:  # fmt: skip
    caplog.set_level(logging.ERROR, logger="ingestd.monitor")
    server = await watched(server_factory, receiver)
    t0 = freeze(server)
    await put_job(server, "broken", cron="0 * * * *")
    await server.db.execute(f"UPDATE jobs SET {column} = $1 WHERE job = 'broken'", stored)
    await put_job(server, "heartbeat", every="1m", grace="10s")
    await send(server, run("broken", t0, seconds=1), run("heartbeat", t0, seconds=1))
    advance(server, seconds=75)
    await send(server, run("other", t0, status="failed"))
    await tick(server)

    # The monitor's own first tick may run too, around the one asked for: each tick that
    # ran left the broken job out once, and failed as a whole never.
    stats = server.app[MONITOR].stats
    assert stats.failed_ticks == 0
    assert 1 <= stats.failed_jobs <= stats.ticks
    assert (await job(server, "heartbeat"))["health"] == "missed"
    received = await receiver.wait_for(2)
    assert sorted((a["job"], a["rule"]) for a in received) == [
        ("heartbeat", "missed"),
        ("other", "failed"),
    ]
    logged = [r.getMessage() for r in caplog.records if r.name == "ingestd.monitor"]
    assert len(logged) == stats.failed_jobs
    assert all("'broken'" in message for message in logged)
    async with server.http.get("metrics") as answer:
        assert f"ingestd_monitor_job_failures_total {stats.failed_jobs}.0" in await answer.text()


@pytest.mark.parametrize(
    ("now", "health"),
    [
        (datetime(2026, 1, 2, 2, 59, tzinfo=UTC), "ok"),
        (datetime(2026, 1, 2, 3, 4, tzinfo=UTC), "late"),
        (datetime(2026, 1, 2, 3, 6, tzinfo=UTC), "missed"),
    ],
)
def test_a_run_started_just_before_its_cron_slot_counts_for_that_slot(
    now: datetime, health: str
) -> None:
    settings = JobSettings(
        "nightly", Schedule.of(None, "0 3 * * *", None), grace=timedelta(minutes=5)
    )
    verdict = judge_schedule(
        settings,
        last_started=datetime(2026, 1, 1, 2, 59, 50, tzinfo=UTC),  # a fast clock
        last_is_missed=False,
        schedule_set_at=datetime(2025, 1, 1, tzinfo=UTC),
        last_ended_status="success",
        now=now,
    )
    assert verdict.health == health
    assert verdict.due_at == datetime(2026, 1, 2, 3, tzinfo=UTC)


def test_a_job_is_watched_from_its_first_run_on() -> None:
    settings = JobSettings("new", Schedule(every=timedelta(minutes=1)))
    verdict = judge_schedule(
        settings,
        last_started=None,
        last_is_missed=False,
        schedule_set_at=datetime(2020, 1, 1, tzinfo=UTC),
        last_ended_status=None,
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )
    # Waiting for its first run: never late or missed before it (an `every` has no due).
    assert verdict.health == "waiting"
    assert verdict.missed_slot is None
    assert verdict.due_at is None


def test_health_for_the_jobs_list() -> None:
    assert job_health(None, None) == "unknown"
    assert job_health(None, "warning") == "ok"
    assert job_health("ok", "timed_out") == "failing"
    assert job_health("late", "success") == "late"
    assert job_health("missed", "failed") == "missed"
    assert job_health("waiting", None) == "waiting"
    assert job_health("waiting", None, has_run=True) == "unknown"
    assert job_health("late", "success", stuck=True) == "stuck"
