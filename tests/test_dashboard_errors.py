"""The Errors view and the Runs view's error column in a real browser, at desktop and phone
widths, with the known data of tests/test_stats_errors.py: the job filter lives in the URL
and changes the rows, each group counts its failed runs, a run with 12 errors is listed once
with "12", and the Runs view shows each run's error. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from playwright.async_api import Page, ViewportSize, expect

from tests.conftest import Served
from tests.test_dashboard_browser import DESKTOP, PHONE, Tabs, browser, post_events, shoot, tabs_on
from tests.test_stats_errors import RUN_ERRORS, known_events

__all__ = ["browser", "tabs_on"]  # the fixtures

VIEWPORTS = pytest.mark.parametrize(("name", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])


@pytest.fixture
async def known(server: Served) -> tuple[Served, dict[str, str]]:
    runs, events = known_events(datetime.now(UTC).replace(microsecond=0))
    await post_events(server, events)
    return server, runs


def group_rows(page: Page, by: str) -> object:
    return page.locator(f"section[data-by='{by}'] tbody tr")


@VIEWPORTS
async def test_errors_by_job_and_step_follow_the_job_filter_in_the_url(
    known: tuple[Served, dict[str, str]],
    tabs_on: Callable[[Served], Tabs],
    name: str,
    viewport: ViewportSize,
) -> None:
    server, _ = known
    page = await (tabs_on(server)).open("/#/errors?job=etl", viewport=viewport)
    await expect(page.locator("main")).to_have_attribute("data-state", "ready")
    await expect(page.locator("select[name=job]")).to_have_value("etl")
    pairs = page.locator("section[data-by='job,step'] tbody tr")
    await expect(pairs).to_have_count(2)
    load = pairs.filter(has_text="LOAD")
    await expect(load.locator("th")).to_have_text("etl / LOAD")
    await expect(load.locator("td[data-label=Errors]")).to_contain_text("13")
    await expect(load.locator("td[data-label='Runs affected']")).to_have_text("2")
    await expect(load.locator("td[data-label='Failed runs']")).to_have_text("1")
    await expect(page.locator("section[data-by=step] tbody tr")).to_have_count(2)

    # Another job: the URL says so and the rows are that job's.
    await page.locator("select[name=job]").select_option("mail")
    await expect(page).to_have_url(re.compile(r"#/errors\?.*job=mail"))
    await expect(pairs).to_have_count(3)
    await expect(pairs.locator("th").first).to_have_text("mail / LOAD")
    await page.locator("select[name=job]").select_option("")
    await expect(pairs).to_have_count(5)
    await expect(page).not_to_have_url(re.compile("job="))


@VIEWPORTS
async def test_a_run_with_12_errors_is_listed_once_with_its_count(
    known: tuple[Served, dict[str, str]],
    tabs_on: Callable[[Served], Tabs],
    name: str,
    viewport: ViewportSize,
) -> None:
    server, runs = known
    page = await (tabs_on(server)).open("/#/errors", viewport=viewport)
    await expect(page.locator("main")).to_have_attribute("data-state", "ready")
    load = page.locator("section[data-by=step] tbody tr[data-key=LOAD]")
    await expect(load.locator("td[data-label='Failed runs']")).to_have_text("2")
    await load.get_by_text("Latest runs with it").click()
    listed = load.locator(".occurrences li")
    await expect(listed).to_have_count(3)  # dup's 12 lines, retried's 1, bounce's 3
    dup = load.locator(f".occurrences li[data-run-id='{runs['dup']}']")
    await expect(dup).to_have_count(1)
    await expect(dup.locator(".error-count")).to_have_text("12 errors")
    await expect(dup.locator("[data-status]")).to_have_text("failed")
    retried = load.locator(f".occurrences li[data-run-id='{runs['retried']}']")
    await expect(retried.locator(".error-count")).to_have_text("1 error")
    await expect(retried.locator("[data-status]")).to_have_text("success")
    await shoot(page, f"errors-{name}")
    await dup.locator("a").click()
    await expect(page).to_have_url(re.compile(f"#/run/{runs['dup']}.*level=error"))


@VIEWPORTS
async def test_the_runs_view_shows_each_runs_error(
    known: tuple[Served, dict[str, str]],
    tabs_on: Callable[[Served], Tabs],
    name: str,
    viewport: ViewportSize,
) -> None:
    server, runs = known
    page = await (tabs_on(server)).open("/#/runs", viewport=viewport)
    await expect(page.locator("main")).to_have_attribute("data-state", "ready")
    dup = page.locator(f"tr[data-run-id='{runs['dup']}'] td.run-error")
    whole = f"{RUN_ERRORS['dup']['type']}: {RUN_ERRORS['dup']['message']}"
    await expect(dup).to_be_visible()
    await expect(dup).to_have_attribute("title", whole)
    shortened = await dup.inner_text()
    assert shortened.startswith("IntegrityError: duplicate key value") and shortened.endswith("…")
    assert len(shortened) < len(whole)
    slow = page.locator(f"tr[data-run-id='{runs['slow']}'] td.run-error")
    await expect(slow).to_have_text("TimeoutError: read timed out")
    await expect(page.locator(f"tr[data-run-id='{runs['retried']}'] td.run-error")).to_have_text("")
    await shoot(page, f"runs-errors-{name}")
