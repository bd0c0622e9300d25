"""Stuck runs, missed slots and waiting jobs, without any settings where none are needed:
the health on /v1/jobs, the `stuck` alert once per run, and missed slots kept out of the
success and duration figures. Known data, a frozen clock moved by the test."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import orjson

from ingestd.monitoring.monitor import MONITOR
from ingestd.monitoring.webhooks import Target
from tests.conftest import Served
from tests.monitor_helpers import (
    Receiver,
    advance,
    alerts,
    freeze,
    put_job,
    receiver,
    run,
    send,
    tick,
)

__all__ = ["receiver"]  # the fixture

Factory = Callable[..., Awaitable[Served]]
FRESH = {"Cache-Control": "no-cache"}


async def watched(server_factory: Factory, hook: Receiver) -> Served:
    """ingestd whose monitor ticks only when a test says so, alerting to `hook`."""
    return await server_factory(
        alert_webhooks=(Target(hook.url),), monitor_interval_s=3600, webhook_allow_private=True
    )


async def jobs(server: Served, **params: Any) -> dict[str, dict[str, Any]]:
    async with server.http.get("v1/jobs", params=params, headers=FRESH) as answer:
        assert answer.status == 200, await answer.text()
        return {item["job"]: item for item in (await answer.json())["items"]}


async def stats_for(server: Served, name: str) -> dict[str, Any]:
    async with server.http.get("v1/stats/jobs", params={"job": name}, headers=FRESH) as answer:
        assert answer.status == 200, await answer.text()
        [item] = (await answer.json())["items"]
    return item  # type: ignore[no-any-return]


async def test_a_run_far_longer_than_usual_is_stuck_and_alerts_once(
    server_factory: Factory, receiver: Receiver
) -> None:
    server = await watched(server_factory, receiver)
    t0 = freeze(server)
    # Five successful 2-minute runs (no settings for this job), then one that hangs.
    usual = [run("etl", t0 + timedelta(hours=i), seconds=120) for i in range(5)]
    hung = run("etl", t0 + timedelta(hours=5), status="running", seconds=None)
    await send(server, *usual, hung)
    advance(server, hours=5, minutes=9)  # 9 min in: past 3 x 2 min, not past the 10 min floor
    await tick(server)
    assert (await jobs(server))["etl"]["health"] == "ok"
    assert await alerts(server, rule="stuck") == []

    advance(server, minutes=2)  # 11 min in
    await tick(server)
    await tick(server)  # again: still one alert for this run
    item = (await jobs(server))["etl"]
    assert item["health"] == "stuck"
    assert item["stuck"]["run_id"] == hung["run_id"]
    assert item["stuck"]["reason"] == "duration"
    assert item["stuck"]["limit_ms"] == 10 * 60_000
    [alert] = await alerts(server, rule="stuck")
    assert alert["run_id"] == hung["run_id"] and alert["job"] == "etl"
    assert "looks stuck: running for 11 min" in alert["text"]
    [received] = await receiver.wait_for(1)
    assert received["rule"] == "stuck"
    # /metrics counts it as stuck too, as the Jobs page does.
    assert await metric_jobs(server) == {"stuck": 1}

    # It ends: no longer stuck.
    await send(server, {"kind": "run", "run_id": hung["run_id"], "status": "success"})
    assert (await jobs(server))["etl"]["health"] == "ok"
    assert await metric_jobs(server) == {"ok": 1}


async def metric_jobs(server: Served) -> dict[str, int]:
    """ingestd_jobs{health} as /metrics says it, counted afresh; zeros left out."""
    await server.app[MONITOR].count_health()
    async with server.http.get("metrics") as answer:
        text = await answer.text()
    found = re.findall(r'^ingestd_jobs\{health="(\w+)"\} (\S+)$', text, re.M)
    return {health: int(float(n)) for health, n in found if float(n)}


async def job(server: Served, name: str) -> dict[str, Any]:
    async with server.http.get(f"v1/jobs/{name}", headers=FRESH) as answer:
        assert answer.status == 200, await answer.text()
        return await answer.json()  # type: ignore[no-any-return]


async def test_a_job_with_a_stuck_run_is_stuck_on_the_list_and_on_its_own_page(
    server_factory: Factory, receiver: Receiver
) -> None:
    server = await watched(server_factory, receiver)
    t0 = freeze(server)
    # Two jobs whose run hangs after five 2-minute successes: one with settings (a daily
    # schedule the monitor judges ok), one without any.
    await put_job(server, "configured", every="1d")
    hung = {}
    for name in ("configured", "bare"):
        usual = [run(name, t0 + timedelta(hours=i), seconds=120) for i in range(5)]
        hung[name] = run(name, t0 + timedelta(hours=5), status="running", seconds=None)
        await send(server, *usual, hung[name])
    advance(server, hours=5, minutes=11)  # 11 min in: past the 10 min floor
    await tick(server)
    listed = await jobs(server)
    for name in ("configured", "bare"):
        alone = await job(server, name)
        assert listed[name]["health"] == alone["health"] == "stuck"
        assert alone["stuck"] == listed[name]["stuck"]
        assert alone["stuck"]["run_id"] == hung[name]["run_id"]
        assert alone["stuck"]["reason"] == "duration" and alone["stuck"]["limit_ms"] == 600_000
        assert alone["stuck"]["text"].startswith("running for 11 min")

    # Once the runs end, neither endpoint says stuck.
    for name in ("configured", "bare"):
        await send(server, {"kind": "run", "run_id": hung[name]["run_id"], "status": "success"})
    listed = await jobs(server)
    for name in ("configured", "bare"):
        alone = await job(server, name)
        assert listed[name]["health"] == alone["health"] == "ok"
        assert listed[name]["stuck"] is alone["stuck"] is None


async def test_a_silent_run_of_a_job_without_history_is_stuck_after_the_default_heartbeat(
    server_factory: Factory, receiver: Receiver
) -> None:
    server = await watched(server_factory, receiver)
    t0 = freeze(server)
    quiet = run("first-ever", t0, status="running", seconds=None)
    await send(server, quiet)
    advance(server, minutes=59)
    assert (await jobs(server))["first-ever"]["health"] == "unknown"
    advance(server, minutes=2)
    await tick(server)
    item = (await jobs(server))["first-ever"]
    assert item["health"] == "stuck"
    assert item["stuck"]["reason"] == "silence"
    assert item["stuck"]["limit_ms"] == 60 * 60_000  # stuck.SILENCE, the default heartbeat
    [alert] = await alerts(server, rule="stuck")
    assert alert["run_id"] == quiet["run_id"]


async def test_a_missed_slot_is_shown_as_missed_and_left_out_of_the_figures(
    server_factory: Factory, receiver: Receiver
) -> None:
    server = await watched(server_factory, receiver)
    t0 = freeze(server)
    await put_job(server, "heartbeat", every="1m", grace="10s")
    await send(server, run("heartbeat", t0, seconds=30), run("heartbeat", t0 + timedelta(
        seconds=60), seconds=10))  # fmt: skip
    advance(server, seconds=135)  # due at 2m, missed from 2m10s
    await tick(server)

    item = (await jobs(server, recent=5))["heartbeat"]
    assert item["health"] == "missed"
    assert item["schedule"] == {"every": "1m"}
    assert item["due_at"] is not None
    assert item["late_by_ms"] == 15_000
    missed, *real = item["recent_runs"]
    assert missed["missed"] is True and missed["status"] == "failed"
    assert [r["missed"] for r in real] == [False, False]
    # Two real runs, both successful: 100 %, 20 s on average, not 66.7 % and 13.3 s.
    assert item["runs_total"] == 3 and item["missed_count"] == 1
    assert item["success_rate"] == 100.0
    assert item["avg_duration_ms"] == 20_000.0

    figures = await stats_for(server, "heartbeat")
    assert figures["missed_count"] == 1
    assert figures["failure_count"] == 0
    assert figures["finished_count"] == 2
    assert figures["success_rate"] == 100.0
    assert figures["p50_duration_ms"] == 20_000.0
    assert figures["runs_by_status"]["failed"] == 0


async def test_a_scheduled_job_that_never_ran_is_waiting_with_its_next_due(
    server_factory: Factory, receiver: Receiver
) -> None:
    server = await watched(server_factory, receiver)
    freeze(server)
    await put_job(server, "nightly", cron="0 3 * * *", timezone="Europe/Berlin")
    await put_job(server, "often", every="15m")
    advance(server, days=2)  # long past any slot: still waiting, never late or missed
    await tick(server)
    listed = await jobs(server)
    assert listed["nightly"]["health"] == "waiting"
    assert listed["nightly"]["schedule"] == {"cron": "0 3 * * *", "timezone": "Europe/Berlin"}
    assert listed["nightly"]["due_at"] is not None
    assert listed["nightly"]["late_by_ms"] is None
    assert listed["often"]["health"] == "waiting"
    assert listed["often"]["due_at"] is None
    assert await alerts(server) == []


async def job_rules(server: Served, job: str) -> list[str]:
    async with server.http.get(f"v1/jobs/{job}", headers=FRESH) as answer:
        assert answer.status == 200, await answer.text()
        return list((await answer.json())["alerts"]["rules"])


async def test_a_rules_list_saved_before_stuck_existed_gets_stuck_alerts_one_saved_since_not(
    server_factory: Factory, receiver: Receiver
) -> None:
    server = await watched(server_factory, receiver)
    t0 = freeze(server)
    before_stuck = ["failed", "timed_out", "missed", "failures_in_a_row", "recovered", "anomaly"]
    await put_job(server, "legacy")
    # As an ingestd without the stuck rule stored it: every rule it had, listed.
    await server.db.execute(
        "UPDATE jobs SET alerts = $1::jsonb WHERE job = 'legacy'",
        orjson.dumps({"webhooks": [], "apprise": [], "global_webhooks": True,
                      "rules": before_stuck, "failures_in_a_row": 3}).decode(),
    )  # fmt: skip
    # Saved now, with stuck known and left out: the user turned it off.
    await put_job(server, "chosen", alerts={"rules": before_stuck})
    assert "stuck" in await job_rules(server, "legacy")
    assert "stuck" not in await job_rules(server, "chosen")

    legacy = run("legacy", t0, status="running", seconds=None)
    chosen = run("chosen", t0, status="running", seconds=None)
    await send(server, legacy, chosen)
    advance(server, minutes=61)  # past the default heartbeat: both stuck
    await tick(server)
    listed = await jobs(server)
    assert listed["legacy"]["health"] == listed["chosen"]["health"] == "stuck"
    assert [a["run_id"] for a in await alerts(server, rule="stuck")] == [legacy["run_id"]]

    # Saved back as read, the legacy job keeps it; saved without it, it is off.
    await put_job(server, "legacy", alerts={"rules": await job_rules(server, "legacy")})
    assert "stuck" in await job_rules(server, "legacy")
    await put_job(server, "legacy", alerts={"rules": before_stuck})
    assert "stuck" not in await job_rules(server, "legacy")
