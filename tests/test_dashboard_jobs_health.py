"""The Jobs page in a real browser, at desktop and phone widths, with known data: a stuck
run, a missed slot shown as missed, a job waiting for its first run, each job's schedule and
next due, and figures labelled with their window. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.async_api import ViewportSize, expect

from tests.conftest import Served
from tests.monitor_helpers import put_job, run, send, tick
from tests.test_dashboard_browser import (
    DESKTOP,
    PHONE,
    Tabs,
    browser,
    rows,
    shoot,
    tabs_on,
)

__all__ = ["browser", "tabs_on"]  # the fixtures

Factory = Callable[..., Awaitable[Served]]


def runs_of_etl(now: datetime) -> tuple[list[dict[str, Any]], str]:
    """Five 1-minute successes, then a run started 30 minutes ago that is still running:
    ten times its usual p95, past the 10-minute floor."""
    events = [run("etl", now - timedelta(hours=6 - i), seconds=60) for i in range(5)]
    hung = str(uuid.uuid4())
    events.append(run("etl", now - timedelta(minutes=30), status="running", seconds=None,
                      run_id=hung))  # fmt: skip
    return events, hung


@pytest.fixture
async def watched(server_factory: Factory) -> Served:
    server = await server_factory(monitor_interval_s=3600)
    now = datetime.now(UTC)
    events, _ = runs_of_etl(now)
    await put_job(server, "heartbeat", every="1m", grace="10s")
    await put_job(server, "nightly", cron="0 3 * * *", timezone="Europe/Berlin")
    await send(server, *events, run("heartbeat", now - timedelta(minutes=5), seconds=20))
    # As if set an hour ago: watching starts from the later of the two.
    await server.db.execute("UPDATE jobs SET schedule_set_at = $1", now - timedelta(hours=1))
    await tick(server)  # records heartbeat's missed slot
    return server


@pytest.mark.parametrize(("name", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
async def test_the_jobs_page_shows_stuck_missed_waiting_schedule_and_window(
    watched: Served, tabs_on: Callable[[Served], Tabs], name: str, viewport: ViewportSize
) -> None:
    tabs = tabs_on(watched)
    page = await tabs.open("/", viewport=viewport)
    await expect(page.locator("main")).to_have_attribute("data-state", "ready")
    await expect(rows(page)).to_have_count(3)

    etl = page.locator("tr[data-job='etl']")
    await expect(etl.locator("[data-health]")).to_have_text("stuck")
    await expect(etl).to_contain_text("running for 30 min")
    await expect(etl.locator(".schedule")).to_have_text("none")

    beat = page.locator("tr[data-job='heartbeat']")
    await expect(beat.locator("[data-health]")).to_have_text("missed")
    await expect(beat).to_contain_text("late by")
    await expect(beat.locator(".last-run [data-status]")).to_have_text("missed")
    await expect(beat.locator("svg.runbars rect.fill-missed")).to_have_count(1)
    await expect(beat.locator("svg.runbars rect.fill-failed")).to_have_count(0)
    await expect(beat.locator("td[data-label='Success rate (7 d)']")).to_have_text("100 %")
    await expect(beat.locator("td[data-label='Runs (7 d)']")).to_have_text("1 + 1 missed")
    await expect(beat.locator(".schedule")).to_contain_text("every 1m")
    await expect(beat.locator(".schedule .due")).to_have_text(re.compile(r"^due \d+ min ago$"))

    nightly = page.locator("tr[data-job='nightly']")
    await expect(nightly.locator("[data-health]")).to_have_text("waiting")
    await expect(nightly).to_contain_text("waiting for first run")
    await expect(nightly.locator(".schedule")).to_contain_text("cron 0 3 * * * (Europe/Berlin)")
    await expect(nightly.locator(".schedule")).to_contain_text("next due")

    # Stuck before missed before waiting: problems first.
    await expect(rows(page).nth(0)).to_have_attribute("data-job", "etl")
    await expect(rows(page).nth(2)).to_have_attribute("data-job", "nightly")
    await shoot(page, f"jobs-stuck-missed-waiting-{name}")


@pytest.mark.parametrize(("name", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
async def test_the_run_page_shows_a_missed_slot_as_missed_not_as_a_failed_run(
    watched: Served, tabs_on: Callable[[Served], Tabs], name: str, viewport: ViewportSize
) -> None:
    missed = await watched.db.fetchval("SELECT run_id::text FROM runs WHERE missed")
    tabs = tabs_on(watched)
    page = await tabs.open(f"/#/run/{missed}", viewport=viewport)
    await expect(page.locator("main")).to_have_attribute("data-state", "ready")
    head = page.locator(".run-head")
    await expect(head.locator("h1 [data-status]")).to_have_text("missed")
    await expect(head.locator(".missed-slot")).to_contain_text("This slot was missed")
    await expect(head.locator(".missed-slot")).to_contain_text("It was due")
    await expect(head.locator(".missed-slot")).to_contain_text("ago)")
    await expect(head).to_contain_text("did not run")
    await expect(head).not_to_contain_text("0 ms")
    await expect(head.locator("[data-status='failed']")).to_have_count(0)
    await expect(page.locator(".run-changes")).to_be_hidden()
    await expect(page).to_have_title("heartbeat · missed · ingestd")
    await shoot(page, f"run-missed-{name}")

    # The runs list says the same of it.
    await page.goto(page.url.split("#")[0] + "#/runs?job=heartbeat")
    row = page.locator(f"tr[data-run-id='{missed}']")
    await expect(row.locator("[data-status]")).to_have_text("missed")
    await expect(row).to_contain_text("did not run")


@pytest.mark.parametrize(("name", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
async def test_the_run_page_says_a_stuck_run_is_stuck(
    watched: Served, tabs_on: Callable[[Served], Tabs], name: str, viewport: ViewportSize
) -> None:
    hung = await watched.db.fetchval("SELECT run_id::text FROM runs WHERE status = 'running'")
    tabs = tabs_on(watched)
    page = await tabs.open(f"/#/run/{hung}", viewport=viewport)
    await expect(page.locator("main")).to_have_attribute("data-state", "ready")
    notice = page.locator(".run-head .stuck-run")
    await expect(notice).to_contain_text("This run looks stuck: running for 30 min")
    await expect(page.locator(".run-head h1 [data-status]")).to_have_text("running")
    await shoot(page, f"run-stuck-{name}")
    done = await watched.db.fetchval(
        "SELECT run_id::text FROM runs WHERE job = 'etl' AND status = 'success' LIMIT 1"
    )
    await page.goto(f"{tabs.base}/#/run/{done}")
    await expect(page.locator(".run-head h1 [data-status]")).to_have_text("success")
    await expect(page.locator(".stuck-run")).to_have_count(0)


# "in 25 min", or "in 3 h": relative like every other time on the page; the title is the
# local time to the minute with its zone ("2025-03-01 03:00 GMT+1"), never seconds.
DUE_TEXT = re.compile(r"^in \d+ (min|h|d)$")
DUE_TITLE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d \S+$")


async def test_next_due_reads_as_a_relative_time_with_the_minute_and_zone_on_hover(
    watched: Served, tabs_on: Callable[[Served], Tabs]
) -> None:
    tabs = tabs_on(watched)
    page = await tabs.open("/")
    await expect(page.locator("main")).to_have_attribute("data-state", "ready")
    due = page.locator("tr[data-job='nightly'] .schedule .due")
    await expect(due).to_contain_text("next due in ")
    await expect(due.locator("time")).to_have_text(DUE_TEXT)
    await expect(due.locator("time")).to_have_attribute("title", DUE_TITLE)

    await page.goto(f"{tabs.base}/#/job/nightly")
    await expect(page.locator("main")).to_have_attribute("data-state", "ready")
    tile = page.locator("[data-tile='next-due'] time")
    await expect(tile).to_have_text(DUE_TEXT)
    await expect(tile).to_have_attribute("title", DUE_TITLE)


@pytest.mark.parametrize(("name", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
async def test_a_running_run_without_progress_does_not_look_done(
    watched: Served, tabs_on: Callable[[Served], Tabs], name: str, viewport: ViewportSize
) -> None:
    hung = await watched.db.fetchval("SELECT run_id::text FROM runs WHERE status = 'running'")
    tabs = tabs_on(watched)  # with reduced motion, where the stripe does not move
    page = await tabs.open(f"/#/run/{hung}", viewport=viewport)
    await expect(page.locator("main")).to_have_attribute("data-state", "ready")
    cell = page.locator(".run-head .progress-cell")
    await expect(cell).to_contain_text("no progress reported")
    await expect(cell).not_to_contain_text("unknown")
    bar = cell.locator("[role=progressbar]")
    await expect(bar).not_to_have_attribute("aria-valuenow", re.compile(".*"))
    await expect(bar).to_have_attribute("aria-valuetext", "no progress reported")
    # Hatched, not one solid colour across the track: it must not read as 100 % done.
    fill = bar.locator(".progress-fill")
    image = await fill.evaluate("el => getComputedStyle(el).backgroundImage")
    assert "repeating-linear-gradient" in image
    await shoot(page, f"run-no-progress-{name}")


async def test_the_stats_page_says_how_many_slots_were_missed_beside_the_success_rate(
    watched: Served, tabs_on: Callable[[Served], Tabs]
) -> None:
    tabs = tabs_on(watched)
    page = await tabs.open("/#/stats")
    await expect(page.locator("main")).to_have_attribute("data-state", "ready")
    await expect(page.locator("[data-tile='success-rate']")).to_contain_text(
        "1 missed slot not counted"
    )
    beat = page.locator("main table tbody tr", has=page.get_by_role("link", name="heartbeat"))
    await expect(beat.locator("td[data-label='Success rate']")).to_have_text(
        "100 % · 1 missed slot not counted"
    )
    etl = page.locator("main table tbody tr", has=page.get_by_role("link", name="etl"))
    await expect(etl.locator("td[data-label='Success rate']")).to_have_text("100 %")
    await shoot(page, "stats-missed-slots")
