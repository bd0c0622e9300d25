"""Job settings: PUT/GET/DELETE /v1/jobs/{job}, and the schedules they hold."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from ingestd.http.auth import parse_tokens
from ingestd.monitoring.job_settings import RULES
from ingestd.monitoring.schedules import Schedule, ScheduleError, format_duration, parse_duration
from tests.conftest import TOKENS_TEXT, Served
from tests.monitor_helpers import put_job, run, send, served
from tests.pgcluster import ThrowawayCluster


@pytest.fixture(scope="module")
async def server(pg_cluster: ThrowawayCluster) -> AsyncIterator[Served]:
    async with served(pg_cluster) as shared:
        yield shared


async def test_put_then_get_gives_the_settings_back_in_canonical_form(server: Served) -> None:
    body = {
        "cron": "0  3 * * *",
        "timezone": "Europe/Berlin",
        "grace": 900,
        "max_duration": "1h30m",
        "heartbeat_timeout": "10m",
        "alerts": {
            "webhooks": [
                "https://example.test/a",
                {"url": "https://example.test/s", "format": "slack"},
            ],
            "rules": ["failed", "missed"],
            "failures_in_a_row": 5,
        },
        "anomaly": {"counters": ["records"], "history": 30},
    }
    async with server.http.put("v1/jobs/backup", data=orjson.dumps(body)) as answer:
        assert answer.status == 201
    async with server.http.put("v1/jobs/backup", data=orjson.dumps(body)) as answer:
        assert answer.status == 200
    async with server.http.get("v1/jobs/backup") as answer:
        assert answer.status == 200
        got = await answer.json()
    assert got["cron"] == "0 3 * * *"
    assert got["timezone"] == "Europe/Berlin"
    assert got["every"] is None
    assert (got["grace"], got["max_duration"], got["heartbeat_timeout"]) == ("15m", "1h30m", "10m")
    assert got["alerts"] == {
        "webhooks": [
            "https://example.test/a",
            {"url": "https://example.test/s", "format": "slack"},
        ],
        "apprise": [],
        "global_webhooks": True,
        "rules": ["failed", "missed"],
        "failures_in_a_row": 5,
    }
    assert got["anomaly"] == {
        "enabled": True, "counters": ["records"], "history": 30, "min_history": 10, "k": 4.0
    }  # fmt: skip
    assert got["configured"] is True
    # A schedule and no run yet: waiting, as GET /v1/jobs says before the monitor's first tick.
    assert got["health"] == "waiting"
    assert got["stuck"] is None


async def test_put_replaces_the_whole_document(server: Served) -> None:
    await put_job(server, "replace-me", every="6h", grace="1h")
    document = await put_job(server, "replace-me", every="1d")
    assert document["every"] == "1d"
    assert document["grace"] == "5m"  # back to the default


async def test_a_job_with_runs_but_no_settings_has_the_defaults(server: Served) -> None:
    await send(server, run("unconfigured", datetime.now(UTC), status="failed"))
    async with server.http.get("v1/jobs/unconfigured") as answer:
        got = await answer.json()
    assert got["configured"] is False
    assert got["every"] is None and got["cron"] is None
    assert got["health"] == "failing"
    assert got["alerts"]["rules"] == [
        "failed", "timed_out", "missed", "failures_in_a_row", "recovered", "anomaly",
        "stuck"
    ]  # fmt: skip


async def test_an_unknown_job_is_404(server: Served) -> None:
    async with server.http.get("v1/jobs/nobody") as answer:
        assert answer.status == 404
        assert answer.content_type == "application/problem+json"


async def test_delete_forgets_the_settings(server: Served) -> None:
    await put_job(server, "short-lived", every="1h")
    async with server.http.delete("v1/jobs/short-lived") as answer:
        assert await answer.json() == {"deleted": 1}
    async with server.http.get("v1/jobs/short-lived") as answer:
        assert answer.status == 404


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"every": "1h", "cron": "0 * * * *"}, "either every or cron"),
        ({"cron": "61 * * * *"}, "not a valid cron"),
        ({"cron": "0 * * * *", "timezone": "Mars/Olympus"}, "not a known time zone"),
        ({"every": "1h", "timezone": "UTC"}, "cron schedule only"),
        ({"every": "soon"}, "not a duration"),
        ({"every": 0}, "more than 0"),
        ({"grace": "1y"}, "not a duration"),
        ({"schedule": "daily"}, "unknown field"),
        ({"alerts": {"webhooks": ["ftp://x"]}}, "http:// or https://"),
        ({"alerts": {"rules": ["sometimes"]}}, "alerts.rules"),
        ({"alerts": {"failures_in_a_row": 1}}, "failures_in_a_row"),
        ({"anomaly": {"k": 0}}, "anomaly.k"),
        ([1, 2], "must be an object"),
    ],
)
async def test_bad_settings_are_refused_with_the_reason(
    server: Served, body: Any, says: str
) -> None:
    async with server.http.put("v1/jobs/bad", data=orjson.dumps(body)) as answer:
        assert answer.status == 400
        problem = await answer.json()
    assert says in problem["detail"]


async def test_settings_stored_before_a_rule_was_tightened_still_read(server: Served) -> None:
    await put_job(server, "older", every="1h")
    stored = orjson.dumps({"webhooks": ["https://example.test/a\tb"]}).decode()
    await server.db.execute("UPDATE jobs SET alerts = $1::jsonb WHERE job = 'older'", stored)
    async with server.http.get("v1/jobs/older") as answer:
        assert answer.status == 200
        assert (await answer.json())["alerts"]["webhooks"] == ["https://example.test/a\tb"]
    body = orjson.dumps({"alerts": {"webhooks": ["https://example.test/a\tb"]}})
    async with server.http.put("v1/jobs/older", data=body) as answer:
        assert answer.status == 400  # but it is not taken again
        assert "control characters" in (await answer.json())["detail"]


@pytest.mark.parametrize(
    ("column", "stored", "part"),
    [
        ("anomaly", {"k": "four", "history": 30}, "anomaly"),
        ("anomaly", [1, 2], "anomaly"),
        ("alerts", {"rules": ["failed", ["nested"]], "failures_in_a_row": 5}, "alerts"),
        ("alerts", {"failures_in_a_row": "3", "webhooks": 7}, "alerts"),
    ],
)
async def test_a_corrupt_stored_part_takes_its_defaults_and_says_so(
    server: Served,
    caplog: pytest.LogCaptureFixture,
    column: str,
    stored: Any,
    part: str,
) -> None:
    job = f"corrupt-{uuid.uuid4().hex[:8]}"
    await put_job(server, job, every="1h", anomaly={"history": 40}, alerts={"rules": ["failed"]})
    # Written straight into the table, as a hand edit or another version might.
    await server.db.execute(
        f"UPDATE jobs SET {column} = $1::jsonb WHERE job = $2", orjson.dumps(stored).decode(), job
    )
    async with server.http.get(f"v1/jobs/{job}") as answer:
        assert answer.status == 200
        document = await answer.json()
    defaults = {
        "anomaly": {"enabled": True, "counters": None, "history": 20, "min_history": 10, "k": 4.0},
        "alerts": {"webhooks": [], "apprise": [], "global_webhooks": True, "rules": list(RULES),
                   "failures_in_a_row": 3},
    }  # fmt: skip
    assert document[part] == defaults[part]
    assert document["every"] == "1h"  # the readable parts are kept
    other = "alerts" if part == "anomaly" else "anomaly"
    assert document[other] != defaults[other]
    [warning] = document["warnings"]
    assert f"stored {part} settings cannot be read" in warning
    assert any(warning in r.getMessage() for r in caplog.records if r.levelname == "WARNING")


async def test_readable_settings_have_no_warnings(server: Served) -> None:
    await put_job(server, "clean", every="1h")
    async with server.http.get("v1/jobs/clean") as answer:
        assert "warnings" not in await answer.json()


async def test_changing_settings_needs_the_admin_scope(
    server_factory: Callable[..., Awaitable[Served]],
) -> None:
    server = await server_factory(tokens=parse_tokens(TOKENS_TEXT))
    body = orjson.dumps({"every": "1h"})
    for token, status in (("read-token", 403), ("ingest-token", 403), ("admin-token", 201)):
        headers = {"Authorization": f"Bearer {token}"}
        async with server.http.put("v1/jobs/guarded", data=body, headers=headers) as answer:
            assert answer.status == status
    async with server.http.get(
        "v1/jobs/guarded", headers={"Authorization": "Bearer read-token"}
    ) as answer:
        assert answer.status == 200


# --- schedules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("1h30m", 5400), ("2d", 172800), ("1w", 604800), ("250ms", 0.25), (45, 45)],
)
def test_durations_read_as_people_write_them(text: Any, seconds: float) -> None:
    assert parse_duration(text, "d") == timedelta(seconds=seconds)


def test_durations_print_shortest() -> None:
    assert format_duration(timedelta(seconds=5400)) == "1h30m"
    assert format_duration(timedelta(days=1, seconds=1)) == "1d1s"
    assert format_duration(timedelta(milliseconds=1500)) == "1s500ms"


def test_a_cron_schedule_follows_its_time_zone_across_dst() -> None:
    schedule = Schedule.of(None, "30 2 * * *", "Europe/Berlin")
    assert schedule is not None
    # 2026-03-29: Berlin skips from 02:00 to 03:00; the job runs when the clock jumps.
    before = datetime(2026, 3, 28, 12, tzinfo=UTC)
    first = schedule.next_after(before)
    assert first.astimezone(UTC) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    second = schedule.next_after(first)
    assert second.astimezone(UTC) == datetime(2026, 3, 30, 0, 30, tzinfo=UTC)


def test_slots_due_counts_the_slots_of_a_silence() -> None:
    every = Schedule(every=timedelta(minutes=1))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert every.slots_due(start, start + timedelta(minutes=10, seconds=5)) == (
        start + timedelta(minutes=10),
        11,
    )
    hourly = Schedule.of(None, "0 * * * *", None)
    assert hourly is not None
    assert hourly.slots_due(start, start + timedelta(hours=3)) == (start + timedelta(hours=3), 4)


def test_a_schedule_is_every_or_cron() -> None:
    with pytest.raises(ScheduleError):
        Schedule.of("1h", "0 * * * *", None)
    assert Schedule.of(None, None, None) is None
