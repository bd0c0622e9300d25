"""The Alerts view and the search across all logs, in a real browser at desktop and phone
widths, with known data: alerts the monitor raised and delivered (one delivery refused by
its receiver), and log lines crafted among the seeds'. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import pytest
from playwright.async_api import Page, Request, ViewportSize, expect

from ingestd.monitoring.alerts import DISPATCHER
from ingestd.monitoring.webhooks import Target
from tests.browser import Seed
from tests.conftest import Served
from tests.monitor_helpers import (
    Receiver,
    eventually,
    put_job,
    receiver,
    run,
    send,
    tick,
)
from tests.test_dashboard_browser import (
    DESKTOP,
    FAST,
    PHONE,
    Tabs,
    browser,
    post_events,
    rows,
    shoot,
    tabs_on,
)

__all__ = ["browser", "receiver", "tabs_on"]  # the fixtures

Factory = Callable[..., Awaitable[Served]]
VIEWPORTS = [("desktop", DESKTOP), ("phone", PHONE)]
NEEDLE = "Upload to S3 failed: Bucket QUOTA exceeded"


async def no_sideways_overflow(page: Page) -> None:
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page is {overflow}px too wide"


# --- alerts ----------------------------------------------------------------------------------


@pytest.fixture
async def alerted(server_factory: Factory, receiver: Receiver) -> tuple[Served, dict[str, str]]:
    """Two alerts raised by the monitor: `import` failed (its own webhook answers 500 and is
    given up at once; the global one takes it), then `sync` timed out."""
    refusing = Receiver()
    await refusing.start()
    refusing.fail_next = 1000
    try:
        server = await server_factory(
            monitor_interval_s=3600,
            alert_webhooks=(Target(receiver.url),),
            webhook_allow_private=True,  # the receivers are on 127.0.0.1
            alert_max_attempts=1,
        )
        await put_job(server, "import", alerts={"webhooks": [refusing.url]})
        now = datetime.now(UTC)
        failed = run("import", now - timedelta(minutes=5), status="failed",
                     error={"message": "no such file: calls.csv"})  # fmt: skip
        await send(server, failed)
        await tick(server)
        timed_out = run("sync", now - timedelta(minutes=2), status="timed_out", seconds=30)
        await send(server, timed_out)
        await tick(server)
        await refusing.wait_for(1, attempts=True)
        await receiver.wait_for(2)
        stats = server.app[DISPATCHER].stats
        await eventually(lambda: stats.sent == 2 and stats.failed == 1)  # outcomes recorded
    finally:
        await refusing.stop()
    return server, {"import": failed["run_id"], "sync": timed_out["run_id"], "bad": refusing.url}


@pytest.mark.parametrize(("name", "viewport"), VIEWPORTS)
async def test_alerts_show_rule_job_text_run_and_each_delivery_and_filter_in_the_url(
    alerted: tuple[Served, dict[str, str]],
    tabs_on: Callable[[Served], Tabs],
    name: str,
    viewport: ViewportSize,
) -> None:
    server, ids = alerted
    page = await tabs_on(server).open(f"/{FAST}#/alerts", viewport=viewport)
    await expect(page.locator("main")).to_have_attribute("data-state", "ready")
    await expect(rows(page)).to_have_count(2)
    # Newest first: sync's time-out, then import's failure.
    await expect(rows(page).nth(0)).to_have_attribute("data-job", "sync")
    sync = page.locator("tr[data-job='sync']")
    await expect(sync.locator("[data-rule]")).to_have_text("timed out")
    await expect(sync.locator(".alert-text")).to_contain_text("[ingestd] sync: run")
    await expect(sync.locator("[data-delivery]")).to_have_count(1)
    await expect(sync.locator("[data-delivery='sent']")).to_contain_text("sent")

    imp = page.locator("tr[data-job='import']")
    await expect(imp.locator("[data-rule]")).to_have_text("failed")
    await expect(imp.locator(".alert-text")).to_contain_text("no such file: calls.csv")
    await expect(imp.locator("th a")).to_have_attribute("href", "#/job/import")
    # When its run ended, beside when the alert was raised.
    await expect(imp.locator(".run-ended")).to_contain_text("ended")
    # The refused delivery says so, with the receiver's answer; the other was sent.
    refused = imp.locator("[data-delivery='failed']")
    await expect(refused).to_contain_text("failed")
    await expect(refused).to_contain_text(ids["bad"])
    await expect(refused.locator(".last-error")).to_have_text("HTTP 500: receiver down")
    await expect(imp.locator("[data-delivery='sent']")).to_have_count(1)
    await no_sideways_overflow(page)
    await shoot(page, f"alerts-{name}")

    await page.locator("select[name=rule]").select_option("timed_out")
    await expect(rows(page)).to_have_count(1)
    await expect(rows(page).first).to_have_attribute("data-job", "sync")
    await expect(page).to_have_url(re.compile(r"#/alerts\?rule=timed_out"))
    await page.locator("select[name=rule]").select_option("")
    await page.locator("select[name=job]").select_option("import")
    await expect(rows(page)).to_have_count(1)
    await expect(page).to_have_url(re.compile(r"#/alerts\?job=import"))
    # The filters are read back from the URL.
    await page.reload()
    await expect(rows(page)).to_have_count(1)
    await expect(page.locator("select[name=job]")).to_have_value("import")
    await imp.get_by_role("link", name=re.compile(r"^run ")).click()
    await expect(page).to_have_url(re.compile(f"#/run/{ids['import']}$"))
    await expect(page.locator(".run-head h1")).to_be_visible()


async def test_without_alerts_the_page_says_how_to_configure_them(
    server: Served, tabs_on: Callable[[Served], Tabs]
) -> None:
    page = await tabs_on(server).open("/#/alerts")
    await expect(page.locator("main")).to_have_attribute("data-state", "ready")
    empty = page.locator(".empty-alerts")
    await expect(empty).to_contain_text("INGESTD_ALERT_WEBHOOKS")
    await expect(empty).to_contain_text("docs/monitoring.md")
    await expect(rows(page)).to_have_count(0)


# --- log search ------------------------------------------------------------------------------


def crafted(now: datetime) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Among the seeds' lines: the line to find, one like it at level info in another job,
    and 130 matching lines of a chatty job (more than a page of 100)."""
    needle, other, chatty = (str(uuid.uuid4()) for _ in range(3))
    events: list[dict[str, Any]] = [
        run("uploader", now - timedelta(minutes=30), status="failed", run_id=needle),
        run("reporter", now - timedelta(minutes=40), run_id=other),
        run("chatty", now - timedelta(hours=3), run_id=chatty),
        {"run_id": needle, "job": "uploader", "ts": (now - timedelta(minutes=29)).isoformat(),
         "level": "error", "step": "UPLOAD", "message": NEEDLE},
        {"run_id": other, "job": "reporter", "ts": (now - timedelta(minutes=39)).isoformat(),
         "level": "info", "step": "CHECK", "message": "bucket quota at 80 %"},
    ]  # fmt: skip
    start = now - timedelta(hours=3)
    events += [
        {"run_id": chatty, "job": "chatty", "ts": (start + timedelta(seconds=i)).isoformat(),
         "level": "info", "step": "POLL", "message": f"heartbeat tick {i}"}
        for i in range(130)
    ]  # fmt: skip
    return events, {"needle": needle}


@pytest.mark.parametrize(("name", "viewport"), VIEWPORTS)
async def test_log_search_finds_highlights_filters_pages_and_opens_the_run(
    server: Served, tabs_on: Callable[[Served], Tabs], name: str, viewport: ViewportSize
) -> None:
    now = datetime.now(UTC)
    events, ids = crafted(now)
    await post_events(server, Seed(now).events + events)
    page = await tabs_on(server).open("/#/logs", viewport=viewport)
    await expect(page.locator("main")).to_have_attribute("data-state", "ready")
    await expect(page.locator("#logs-bound")).to_contain_text("last 24 hours")
    await expect(page.locator("select[name=range]")).to_have_value("24h")
    lines = page.locator(".search-results > li")

    # Typing asks nothing; the search goes when submitted.
    asked: list[str] = []

    def on_request(request: Request) -> None:
        if "/v1/logs" in request.url:
            asked.append(request.url)

    page.on("request", on_request)
    await page.locator("input[name=q]").press_sequentially("bucket quota")
    assert asked == []
    await page.locator("input[name=q]").press("Enter")
    await expect(lines).to_have_count(2)
    assert len(asked) == 1
    await expect(page).to_have_url(re.compile(r"q=bucket(\+|%20)quota"))
    found = lines.filter(has_text="Upload to S3")
    await expect(found.locator("mark")).to_have_text("Bucket QUOTA")
    await expect(found.locator("[data-level]")).to_have_text("error")
    await expect(found.locator(".job")).to_have_text("uploader")
    await expect(found.locator(".step")).to_have_text("UPLOAD")
    await no_sideways_overflow(page)
    await shoot(page, f"logs-search-{name}")

    # Filters narrow it: minimum level, then job.
    await page.locator("select[name=min_level]").select_option("error")
    await expect(lines).to_have_count(1)
    await expect(lines.first).to_contain_text("Upload to S3")
    await expect(page).to_have_url(re.compile(r"min_level=error"))
    await page.locator("select[name=min_level]").select_option("")
    await page.locator("select[name=job]").select_option("reporter")
    await expect(lines).to_have_count(1)
    await expect(lines.first).to_contain_text("bucket quota at 80 %")
    await page.locator("select[name=job]").select_option("")
    await page.locator("input[name=step]").fill("UPLOAD")
    await page.locator("input[name=step]").press("Enter")
    await expect(lines).to_have_count(1)
    await page.locator("input[name=step]").fill("")

    # Paging adds older lines below the ones shown.
    await page.locator("input[name=q]").fill("HEARTBEAT TICK")
    await page.locator("input[name=q]").press("Enter")
    await expect(lines).to_have_count(100)
    await expect(lines.first).to_contain_text("heartbeat tick 129")
    first = await lines.first.element_handle()
    await page.get_by_role("button", name="Older →").click()
    await expect(lines).to_have_count(130)
    await expect(lines.last).to_contain_text("heartbeat tick 0")
    assert await first.evaluate("(el) => el.isConnected")  # not redrawn
    await expect(page.get_by_role("button", name="Older →")).to_have_count(0)

    # The link opens the run with the search kept.
    await page.locator("input[name=q]").fill("bucket quota")
    await page.locator("input[name=q]").press("Enter")
    await expect(lines).to_have_count(2)
    await lines.filter(has_text="Upload to S3").get_by_role("link", name="open its run").click()
    await expect(page).to_have_url(re.compile(f"#/run/{ids['needle']}\\?q=bucket"))
    await expect(page.locator(".timeline mark")).to_have_text("Bucket QUOTA")

    # The header's search box leads here from any view.
    await page.locator("#quick-search input").fill("QUOTA")
    await page.locator("#quick-search input").press("Enter")
    await expect(page).to_have_url(re.compile(r"#/logs\?q=QUOTA$"))
    await expect(lines).to_have_count(2)
    await no_sideways_overflow(page)


async def test_log_search_refresh_adds_new_matches_on_top_scanning_only_since_the_newest(
    server: Served, tabs_on: Callable[[Served], Tabs]
) -> None:
    now = datetime.now(UTC)
    events, ids = crafted(now)
    await post_events(server, events)
    page = await tabs_on(server).open(f"/{FAST}#/logs?q=quota")
    lines = page.locator(".search-results > li")
    await expect(lines).to_have_count(2)
    shown = await lines.first.element_handle()
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/v1/logs" in r.url else None)

    await post_events(server, [{"run_id": ids["needle"], "job": "uploader", "level": "error",
                                "ts": now.isoformat(), "message": "quota again"}])  # fmt: skip
    await expect(lines).to_have_count(3)
    await expect(lines.first).to_contain_text("quota again")
    assert await shown.evaluate("(el) => el.isConnected")  # what was shown is not redrawn
    # The refresh read from the newest line it had (29 min ago), not the whole 24 hours.
    since = (now - timedelta(minutes=29)).isoformat().replace("+00:00", "")
    assert any(since[:19] in unquote(url) for url in asked), asked
