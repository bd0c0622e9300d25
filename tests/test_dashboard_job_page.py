"""A job's own page (#/job/<name>) in a real browser, at desktop and phone widths, with known
data: twelve 1-minute successes, one 10-minute outlier, two failures with errors in step SAVE,
a success, then a missed slot; the alerts the monitor raised for them; a job waiting for its
first run and a job nobody knows. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import math
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.async_api import Page, ViewportSize, expect

from tests.conftest import Served
from tests.monitor_helpers import Receiver, deliver, put_job, receiver, run, send, tick
from tests.test_dashboard_browser import DESKTOP, PHONE, Tabs, browser, shoot, tabs_on

__all__ = ["browser", "receiver", "tabs_on"]  # the fixtures

Factory = Callable[..., Awaitable[Served]]
JOB = "etl"


@dataclass
class Etl:
    server: Served
    outlier: str
    failed: list[str]
    durations_s: list[float]  # the runs that ran, oldest first


def percentile(values: list[float], p: float) -> float:
    """PostgreSQL's percentile_cont: interpolated between the two nearest values."""
    ordered = sorted(values)
    at = (len(ordered) - 1) * p
    low = math.floor(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def shown_duration(seconds: float) -> str:
    """The dashboard's fmtDuration for a minute or more."""
    whole = math.floor(seconds + 0.5)
    return f"{whole // 60} min {whole % 60} s"


def error_line(run_id: str, at: datetime) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "job": JOB,
        "ts": at.isoformat(),
        "level": "error",
        "step": "SAVE",
        "message": "could not save: disk full",
        "error": {"type": "OSError", "message": "disk full"},
    }


@pytest.fixture
async def etl(server_factory: Factory, receiver: Receiver) -> Etl:
    server = await server_factory(monitor_interval_s=3600, webhook_allow_private=True)
    now = datetime.now(UTC)
    await put_job(server, JOB, every="1h", grace="5m", alerts={"webhooks": [receiver.url]})
    starts = [now - timedelta(hours=16 - i, minutes=40) for i in range(16)]
    seconds = [60.0 + i % 3 for i in range(12)] + [600.0, 30.0, 30.0, 62.0]
    statuses = ["success"] * 13 + ["failed", "failed", "success"]
    ids = [str(uuid.uuid4()) for _ in starts]
    events = [
        run(JOB, start, status=status, seconds=s, run_id=run_id)
        for start, status, s, run_id in zip(starts, statuses, seconds, ids, strict=True)
    ]
    errors = [error_line(ids[i], starts[i] + timedelta(seconds=20)) for i in (13, 14)]
    await send(server, *events, *errors)
    # As if set the day before: the last start (1 h 40 min ago) + 1 h + 5 min grace is past.
    await server.db.execute("UPDATE jobs SET schedule_set_at = $1", now - timedelta(days=1))
    await tick(server)  # judges the runs (alerts, the outlier) and records the missed slot
    await deliver(server)
    return Etl(server, ids[12], [ids[13], ids[14]], seconds)


async def ready(page: Page) -> None:
    await expect(page.locator("main")).to_have_attribute("data-state", "ready")
    await expect(page.locator("main")).to_have_attribute("data-view", "job")


def tile(page: Page, name: str) -> Any:
    return page.locator(f".tile[data-tile='{name}'] .tile-value")


@pytest.mark.parametrize(("name", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
async def test_a_jobs_page_shows_health_figures_history_alerts_and_errors_by_step(
    etl: Etl, tabs_on: Callable[[Served], Tabs], name: str, viewport: ViewportSize
) -> None:
    tabs = tabs_on(etl.server)
    page = await tabs.open(f"/#/job/{JOB}", viewport=viewport)
    await ready(page)
    await expect(page.locator("nav a[data-view='jobs']")).to_have_attribute("aria-current", "page")

    # Health in the Jobs page's words, and why.
    await expect(page.locator(".job-health [data-health]")).to_have_text("missed")
    await expect(page.locator(".job-health")).to_contain_text("late by")
    await expect(tile(page, "schedule")).to_have_text("every 1h")

    # Figures over the labelled window; the missed slot is counted apart, not as a failure.
    await expect(page.locator(".tile[data-tile='success-rate'] .tile-label")).to_have_text(
        "Success rate (30 d)"
    )
    await expect(tile(page, "success-rate")).to_have_text("87.5 %")  # 14 of 16 finished
    await expect(tile(page, "runs")).to_have_text("16 + 1 missed")
    await expect(tile(page, "failed")).to_have_text("2")
    p50, p95 = (percentile(etl.durations_s, p) for p in (0.5, 0.95))
    await expect(tile(page, "p50-duration")).to_have_text(shown_duration(p50))
    await expect(tile(page, "p95-duration")).to_have_text(shown_duration(p95))

    # The history: one mark per run (the missed slot included, as missed), the outlier ringed.
    chart = page.locator("section[data-part='history'] svg.history")
    await expect(chart.locator("a.mark")).to_have_count(17)
    await expect(chart.locator("rect[data-status='missed']")).to_have_count(1)
    await expect(chart.locator("rect[data-status='failed']")).to_have_count(2)
    outlier = chart.locator("rect[data-outlier]")
    await expect(outlier).to_have_count(1)
    await expect(outlier.locator("title")).to_contain_text("10 min 0 s")
    await expect(outlier.locator("title")).to_contain_text("outlier")
    await expect(chart.locator("circle.outlier-mark")).to_have_count(1)
    await expect(chart.locator("a.mark").nth(12)).to_have_attribute("href", f"#/run/{etl.outlier}")
    await expect(page.locator("section[data-part='history'] .legend")).to_contain_text(
        "Q3 + 1.5·IQR"
    )
    numbers = page.locator("section[data-part='history'] details.chart-data")
    await numbers.locator("summary").click()
    await expect(numbers.locator("tbody tr")).to_have_count(17)
    await expect(numbers.locator("tbody tr").last).to_contain_text("did not run")

    # Its alerts, as the monitor raised and delivered them, and its alert settings.
    alerts = page.locator("section[data-part='alerts']")
    await expect(alerts.locator("tr[data-rule='failed']")).to_have_count(2)
    await expect(alerts.locator("tr[data-rule='missed']")).to_have_count(1)
    failed = alerts.locator("tr[data-rule='failed']").first
    await expect(failed).to_contain_text(JOB)
    await expect(failed.locator("[data-delivery]")).to_have_text("sent")
    alert_links = await alerts.locator("tr[data-rule='failed'] a").all()
    hrefs = {await link.get_attribute("href") for link in alert_links}
    assert hrefs == {f"#/run/{run_id}" for run_id in etl.failed}
    await expect(alerts.locator("dl.settings .targets")).to_contain_text("127.0.0.1")

    # Its errors by step, leading to the runs that had them (each once).
    save = page.locator("section[data-part='errors'] tr[data-step='SAVE']")
    await expect(save.locator("td[data-label='Errors']")).to_have_text("2")
    await expect(save.locator("td[data-label='Runs affected']")).to_have_text("2")
    await expect(save.locator("td.sample a")).to_have_attribute(
        "href", f"#/run/{etl.failed[1]}?level=error"
    )
    await save.locator("details summary").click()
    links = save.locator("details li a")
    await expect(links).to_have_count(2)
    assert {await link.get_attribute("href") for link in await links.all()} == {
        f"#/run/{run_id}?level=error&step=SAVE" for run_id in etl.failed
    }

    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the job page ({name}) is {overflow}px too wide"
    await shoot(page, f"job-{name}")

    # A mark leads to its run.
    await chart.locator("a.mark").nth(12).click()
    await expect(page.locator("main")).to_have_attribute("data-view", "run")
    assert page.url.endswith(f"#/run/{etl.outlier}")


async def test_the_jobs_and_runs_pages_link_job_names_to_the_job_page(
    etl: Etl, tabs_on: Callable[[Served], Tabs]
) -> None:
    tabs = tabs_on(etl.server)
    page = await tabs.open("/#/jobs")
    await page.locator(f"tr[data-job='{JOB}'] th a").click()
    await ready(page)
    assert page.url.endswith(f"#/job/{JOB}")

    page = await tabs.open(f"/#/runs?job={JOB}")
    await expect(page.locator("main table tbody tr").first).to_be_visible()
    await page.locator("main table tbody tr").first.locator("th a").click()
    await ready(page)
    assert page.url.endswith(f"#/job/{JOB}")


@pytest.mark.parametrize(("name", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
async def test_a_job_waiting_for_its_first_run_and_an_unknown_job_both_render(
    server: Served, tabs_on: Callable[[Served], Tabs], name: str, viewport: ViewportSize
) -> None:
    await put_job(server, "nightly", cron="0 3 * * *", timezone="Europe/Berlin")
    tabs = tabs_on(server)
    page = await tabs.open("/#/job/nightly", viewport=viewport)
    await ready(page)
    await expect(page.locator(".job-health [data-health]")).to_have_text("waiting")
    await expect(page.locator(".job-health")).to_contain_text("waiting for first run")
    await expect(tile(page, "schedule")).to_have_text("cron 0 3 * * * (Europe/Berlin)")
    await expect(tile(page, "runs")).to_have_text("0")
    await expect(page.locator("section[data-part='history']")).to_contain_text(
        "Waiting for the first run."
    )
    await expect(page.locator("section[data-part='alerts']")).to_contain_text("No alerts")
    await expect(page.locator("section[data-part='errors']")).to_contain_text("No errors")
    await shoot(page, f"job-waiting-{name}")

    page = await tabs.open("/#/job/no-such-job", viewport=viewport)
    await ready(page)
    await expect(page.locator("[data-unknown]")).to_contain_text("no runs and no settings")
    await expect(page.locator("section[data-part='history']")).to_be_hidden()
    await shoot(page, f"job-unknown-{name}")


async def test_a_job_with_one_run_and_a_name_to_escape_draws_a_narrow_mark(
    server: Served, tabs_on: Callable[[Served], Tabs]
) -> None:
    # One run made one slab as wide as the chart; a slash and a space travel in the address.
    name = "import/eu west"
    await send(server, run(name, datetime.now(UTC) - timedelta(hours=1), seconds=60))
    page = await tabs_on(server).open("/#/jobs")
    await page.get_by_role("link", name=name, exact=True).first.click()
    await ready(page)
    await expect(page.locator("main h1")).to_have_text(name)
    await expect(page.locator("figcaption")).to_contain_text("Duration of 1 run,")
    mark = page.locator("svg.history rect.bar")
    await expect(mark).to_have_count(1)
    assert float(await mark.get_attribute("width") or "0") <= 28
