"""Alert rules on finished runs, webhook deliveries with retries, and GET /v1/alerts."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ingestd.monitoring import what_changed
from ingestd.monitoring.alerts import DISPATCHER, AlertSpec
from ingestd.monitoring.anomaly import judge, outliers
from ingestd.monitoring.monitor import MONITOR
from ingestd.monitoring.webhooks import Target, parse_targets_text
from tests.conftest import Served
from tests.monitor_helpers import (
    Receiver,
    alerts,
    deliver,
    eventually,
    put_job,
    receiver,
    run,
    send,
    tick,
)

__all__ = ["receiver"]  # the fixture

Factory = Callable[..., Awaitable[Served]]
MINUTE = 60


async def watched(server_factory: Factory, hook: Receiver, **overrides: Any) -> Served:
    overrides.setdefault("monitor_interval_s", 3600)
    overrides.setdefault("alert_webhooks", (Target(hook.url),))
    overrides.setdefault("webhook_allow_private", True)  # the receiver is on 127.0.0.1
    return await server_factory(**overrides)


async def status_of(server: Served, run_id: str) -> tuple[str, str]:
    row = await server.db.fetchrow(
        "SELECT status, attrs::text AS attrs FROM runs WHERE run_id = $1", run_id
    )
    assert row is not None
    return row["status"], row["attrs"]


async def test_a_failed_run_alerts_once_with_its_error(
    server_factory: Factory, receiver: Receiver
) -> None:
    server = await watched(server_factory, receiver)
    failed = run("import", datetime.now(UTC), status="failed", error={"message": "no such file"})
    await send(server, failed)
    await tick(server)
    await tick(server)
    [alert] = await receiver.wait_for(1)
    assert alert["rule"] == "failed"
    assert alert["run_id"] == failed["run_id"]
    assert alert["text"].startswith("[ingestd] import: run ")
    assert alert["text"].endswith("failed after 1 min: no such file")
    assert alert["details"]["status"] == "failed"
    await send(server, {**failed, "attrs": {"looked_at": True}})  # the run changes again
    await tick(server)
    assert await deliver(server) == 0
    assert len(receiver.received) == 1


async def test_history_loaded_days_late_raises_no_alerts_but_a_replayed_hour_does(
    server_factory: Factory, receiver: Receiver
) -> None:
    server = await watched(server_factory, receiver)
    now = datetime.now(UTC)
    # A backfill: two weeks of a job's history, sent today; its failures are old news.
    backfill = [
        run("report", now - timedelta(days=d), status="failed", error={"message": "old"})
        for d in range(14, 1, -1)
    ]
    # A client's spool replayed after an hour's outage: its failure is news.
    replayed = run("export", now - timedelta(hours=1), status="failed", error={"message": "new"})
    await send(server, *backfill, replayed)
    await tick(server)
    [alert] = await receiver.wait_for(1)
    assert alert["run_id"] == replayed["run_id"]
    assert [a["run_id"] for a in await alerts(server)] == [replayed["run_id"]]
    assert server.app[MONITOR].stats.backfill == len(backfill)


async def test_n_failures_in_a_row_alert_once_and_recovery_alerts(
    server_factory: Factory, receiver: Receiver
) -> None:
    server = await watched(server_factory, receiver)
    await put_job(server, "sync", alerts={"rules": ["failures_in_a_row", "recovered"],
                                          "failures_in_a_row": 3})  # fmt: skip
    start = datetime.now(UTC) - timedelta(hours=1)
    for i in range(4):
        await send(server, run("sync", start + timedelta(minutes=i), status="failed", seconds=5))
        await tick(server)
    await send(server, run("sync", start + timedelta(minutes=5), seconds=5))
    await tick(server)
    received = await receiver.wait_for(2)
    assert [a["rule"] for a in received] == ["failures_in_a_row", "recovered"]
    assert received[0]["text"] == "[ingestd] sync: failed 3 times in a row"


async def test_the_3_second_backup_among_20_ten_minute_ones_is_flagged(
    server_factory: Factory, receiver: Receiver
) -> None:
    server = await watched(server_factory, receiver)
    start = datetime.now(UTC) - timedelta(hours=23)  # within a day: not a backfill
    normal = [
        run("backup", start + timedelta(hours=i), seconds=10 * MINUTE + (i % 5 - 2) * 20)
        for i in range(20)
    ]
    await send(server, *normal)
    await tick(server)
    assert receiver.received == []  # ordinary runs, and too little history for the first ones
    usual = run("backup", start + timedelta(hours=20), seconds=11 * MINUTE)
    fast = run("backup", start + timedelta(hours=21), seconds=3)
    await send(server, usual, fast)
    await tick(server)
    assert (await status_of(server, usual["run_id"]))[0] == "success"
    [alert] = await receiver.wait_for(1)
    assert alert["rule"] == "anomaly"
    assert alert["run_id"] == fast["run_id"]
    # Worded as the dashboard words durations, the band rounded outwards to whole minutes.
    assert "succeeded in 3 s, outside its usual 4\u201321 min over" in alert["text"]
    assert alert["text"].endswith("over 20 recent successful runs; marked warning")
    band = alert["details"]["anomaly"]["duration_ms"]
    assert band["value"] == 3000
    assert band["low"] < 10 * 60_000 < band["high"]
    await tick(server)
    status, attrs = await status_of(server, fast["run_id"])
    assert status == "warning"
    assert '"anomaly": {"duration_ms"' in attrs
    assert len(receiver.received) == 1


async def test_a_counter_outside_its_band_is_flagged(
    server_factory: Factory, receiver: Receiver
) -> None:
    server = await watched(server_factory, receiver)
    await put_job(server, "etl", anomaly={"counters": ["records"], "min_history": 5})
    start = datetime.now(UTC) - timedelta(hours=10)
    history = [
        run("etl", start + timedelta(hours=i), counters={"records": 50_000 + i * 100, "bad": i})
        for i in range(8)
    ]
    empty = run("etl", start + timedelta(hours=9), counters={"records": 0, "bad": 500})
    await send(server, *history, empty)
    await tick(server)
    [alert] = await receiver.wait_for(1)
    assert alert["rule"] == "anomaly"
    assert list(alert["details"]["anomaly"]) == ["counters.records"]  # `bad` is not watched
    band = alert["details"]["anomaly"]["counters.records"]
    low, high = f"{math.floor(band['low']):,}", f"{math.ceil(band['high']):,}"
    # Whole numbers with an en dash, as the compare summary says them, not 24987.6 to 100011
    assert f"counters.records = 0, outside its usual {low}\u2013{high} over 8" in alert["text"]


async def test_rules_can_be_turned_off_and_webhooks_chosen_per_job(
    server_factory: Factory, receiver: Receiver
) -> None:
    # No global webhooks; the receiver is on 127.0.0.1.
    server = await server_factory(monitor_interval_s=3600, webhook_allow_private=True)
    await put_job(
        server,
        "quiet",
        alerts={"rules": ["timed_out"], "webhooks": [receiver.url]},
    )
    await put_job(server, "loud", alerts={"webhooks": [{"url": receiver.url, "format": "slack"}]})
    now = datetime.now(UTC)
    await send(server, run("quiet", now, status="failed"), run("loud", now, status="failed"))
    await tick(server)
    [alert] = await receiver.wait_for(1)
    assert set(alert) == {"text"}  # the Slack format
    assert alert["text"].startswith("[ingestd] loud: run ")


async def test_a_failing_receiver_is_retried_with_backoff_until_it_takes_the_alert(
    server_factory: Factory, receiver: Receiver
) -> None:
    server = await watched(server_factory, receiver, alert_retry_base_s=0.05)
    receiver.fail_next = 2
    await send(server, run("flaky", datetime.now(UTC), status="failed"))
    await tick(server)
    await receiver.wait_for(1)
    await eventually(lambda: server.app[DISPATCHER].stats.sent == 1)
    assert receiver.attempts == 3
    [listed] = await alerts(server, job="flaky")
    assert listed["status"] == "sent"
    [delivery] = listed["deliveries"]
    assert delivery["attempts"] == 3
    assert delivery["status"] == "sent"
    assert delivery["last_error"] is None
    assert await deliver(server) == 0  # sent: no more attempts
    assert server.app[DISPATCHER].stats.sent == 1
    assert server.app[DISPATCHER].stats.errors == 2


async def test_a_delivery_is_given_up_after_the_last_attempt(
    server_factory: Factory, receiver: Receiver
) -> None:
    server = await watched(server_factory, receiver, alert_retry_base_s=0.01, alert_max_attempts=3)
    receiver.fail_next = 1000
    await send(server, run("doomed", datetime.now(UTC), status="failed"))
    await tick(server)
    await receiver.wait_for(3, attempts=True)
    await eventually(lambda: server.app[DISPATCHER].stats.failed == 1)
    [listed] = await alerts(server)
    assert listed["status"] == "failed"
    assert listed["deliveries"][0]["last_error"] == "HTTP 500: receiver down"
    assert receiver.attempts == 3
    async with server.http.get("metrics") as answer:
        text = await answer.text()
    assert "ingestd_alerts_failed_total 1.0" in text
    assert "ingestd_alert_attempts_failed_total 3.0" in text


async def test_the_alert_list_pages_and_filters(server_factory: Factory) -> None:
    server = await server_factory(monitor_interval_s=3600)
    now = datetime.now(UTC)
    await send(server, *(run(f"job{i % 2}", now, status="failed") for i in range(5)))
    await tick(server)
    first = await alerts(server, limit="2")
    assert len(first) == 2
    async with server.http.get("v1/alerts", params={"limit": "2"}) as answer:
        cursor = (await answer.json())["next_cursor"]
    async with server.http.get("v1/alerts", params={"limit": "10", "cursor": cursor}) as answer:
        rest = (await answer.json())["items"]
    assert len(rest) == 4  # five failed runs, and job0 failed three times in a row
    assert [a["id"] for a in first + rest] == sorted((a["id"] for a in first + rest), reverse=True)
    assert all(a["status"] == "none" for a in rest)  # no webhook anywhere: recorded only
    assert len(await alerts(server, job="job0")) == 4
    assert len(await alerts(server, rule="failures_in_a_row")) == 1
    assert len(await alerts(server, rule="missed")) == 0
    async with server.http.get("v1/alerts", params={"colour": "red"}) as answer:
        assert answer.status == 400


# --- the band --------------------------------------------------------------------------------


def test_values_within_a_factor_of_two_are_never_outliers() -> None:
    history = [600_000.0] * 20  # all alike: the band is the floor, a factor of two
    assert judge("d", 1_100_000, history, 4, 10) is None
    assert judge("d", 310_000, history, 4, 10) is None
    outlier = judge("d", 1_300_000, history, 4, 10)
    assert outlier is not None
    assert round(outlier.low) == 300_000
    assert round(outlier.high) == 1_200_001 or round(outlier.high) == 1_200_000


def test_too_little_history_judges_nothing() -> None:
    assert judge("d", 1, [600_000.0] * 9, 4, 10) is None
    assert outliers(1, {"n": 0}, [(600_000, {"n": 5})] * 9, names=None, k=4, min_history=10) == []


def test_a_noisy_history_widens_the_band() -> None:
    history = [float(v) for v in (100, 400, 150, 900, 250, 60, 700, 300, 120, 500)]
    assert judge("d", 2500, history, 4, 10) is None
    assert judge("d", 100_000, history, 4, 10) is not None


@pytest.mark.parametrize(
    ("text", "targets"),
    [
        ("", ()),
        ("https://a.test/x", (Target("https://a.test/x"),)),
        ("slack:https://hooks.test/y http://b.test", (
            Target("https://hooks.test/y", "slack"), Target("http://b.test"))),
    ],
)  # fmt: skip
def test_global_webhooks_are_read_from_text(text: str, targets: tuple[Target, ...]) -> None:
    assert parse_targets_text(text) == targets


async def test_a_failed_runs_alert_says_what_changed_since_the_last_success(
    server_factory: Factory, receiver: Receiver
) -> None:
    server = await watched(server_factory, receiver)
    start = datetime.now(UTC) - timedelta(hours=2)
    good = run("export", start, counters={"rows": 100})
    bad = run("export", start + timedelta(hours=1), status="failed", seconds=240,
              counters={"rows": 0})  # fmt: skip
    line = {"run_id": bad["run_id"], "job": "export", "level": "error", "message": "disk full",
            "ts": (start + timedelta(hours=1, seconds=5)).isoformat()}  # fmt: skip
    await send(server, good, bad, line)
    await tick(server)
    [alert] = await receiver.wait_for(1)
    head, _, changed = alert["text"].partition("\nWhat changed since the last success:\n")
    assert head.endswith("failed after 4 min")
    lines = alert["details"]["what_changed"]
    assert changed == "\n".join(f"- {s}" for s in lines)
    assert any("disk full" in s for s in lines)
    assert any(s.startswith("rows 0") for s in lines)


async def test_an_alert_goes_without_what_changed_when_the_comparison_fails_or_lags() -> None:
    failed = AlertSpec("failed:r", "failed", "j", "00000000-0000-0000-0000-000000000001", "t")
    other = AlertSpec("missed:j", "missed", "j", None, "m")

    async def broken(run_id: str) -> list[str]:
        raise RuntimeError("the read pool is gone")

    async def stuck(run_id: str) -> list[str]:
        await asyncio.Event().wait()
        return []

    async def fine(run_id: str) -> list[str]:
        return ["took 4 min, usually 1 min"]

    assert await what_changed.added([failed, other], broken, 5) == [failed, other]
    assert await what_changed.added([failed, other], stuck, 0.01) == [failed, other]
    [told, same] = await what_changed.added([failed, other], fine, 5)
    assert told.text == "t\nWhat changed since the last success:\n- took 4 min, usually 1 min"
    assert same == other
