"""The dashboard in a real browser (Debian's chromium driven by Playwright) against a real
ingestd holding data shaped like the seeds'. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from playwright.async_api import (
    Browser,
    ConsoleMessage,
    Page,
    ViewportSize,
    async_playwright,
    expect,
)

from ingestd.http.auth import parse_tokens
from tests.browser import LAUNCH_ARGS, SCREENSHOTS, Seed, chromium_or_reason
from tests.conftest import TOKENS_TEXT, Served

DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
FAST = "?refresh=0.3"  # the page's auto-refresh interval, in seconds, for tests

expect.set_options(timeout=10_000)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    path, reason = chromium_or_reason()
    if path is None:
        pytest.skip(reason)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=path, args=LAUNCH_ARGS, headless=True
        )
        yield launched
        await launched.close()


@dataclass
class Tabs:
    """Pages opened on one ingestd; console errors are collected and must stay empty."""

    browser: Browser
    base: str
    errors: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)

    async def open(
        self, path: str, *, dark: bool = False, viewport: ViewportSize = DESKTOP
    ) -> Page:
        context = await self.browser.new_context(
            viewport=viewport,
            color_scheme="dark" if dark else "light",
            reduced_motion="reduce",
        )
        page = await context.new_page()
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        self.pages.append(page)
        await page.goto(self.base + path)
        return page

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not any(p.search(message.text) for p in self.allowed):
            self.errors.append(f"console: {message.text} at {message.location}")

    async def close(self) -> None:
        for page in self.pages:
            await page.context.close()


@pytest.fixture
async def tabs_on(browser: Browser) -> AsyncIterator[Callable[[Served], Tabs]]:
    made: list[Tabs] = []

    def make(served: Served) -> Tabs:
        made.append(Tabs(browser, served.url))
        return made[-1]

    yield make
    for tabs in made:
        await tabs.close()
    for tabs in made:
        assert tabs.errors == [], "\n".join(tabs.errors)


async def post_events(served: Served, events: list[dict[str, Any]], token: str = "") -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with served.http.post(
        "v1/events?wait=commit", data=orjson.dumps(events), headers=headers
    ) as answer:
        body = await answer.json()
        assert answer.status == 200, body
        assert body["rejected"] == [], body["rejected"]


@pytest.fixture
async def seeded(server: Served) -> tuple[Served, Seed]:
    seed = Seed()
    await post_events(server, seed.events)
    return server, seed


@pytest.fixture
async def tabs(seeded: tuple[Served, Seed], tabs_on: Callable[[Served], Tabs]) -> Tabs:
    return tabs_on(seeded[0])


def rows(page: Page) -> Any:
    return page.locator("main table tbody tr")


async def shoot(page: Page, name: str, *, full_page: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


# --- every page -----------------------------------------------------------------------------


async def wait_until_shown(page: Page, view: str) -> None:
    """Each view's sign that its data is on screen."""
    main = page.locator("main")
    await expect(main).to_have_attribute("data-state", "ready")
    if view in ("jobs", "runs"):
        await expect(rows(page).first).to_be_visible()
    elif view.startswith("run-"):
        await expect(page.locator(".timeline li").first).to_be_visible()
        await expect(page.locator(".run-head h1")).to_be_visible()
    elif view == "errors":
        await expect(page.locator("section.group table")).to_have_count(3)
    elif view == "stats":
        await expect(page.locator("figure.chart-box svg")).to_have_count(4)
        await expect(page.locator("section table tbody tr").first).to_be_visible()
    elif view == "job":
        await expect(page.locator("main h1")).to_contain_text("qci-analysis")
        await expect(page.locator("main svg").first).to_be_visible()
    elif view == "logs":
        await expect(page.locator(".search-results > li").first).to_be_visible()


async def test_every_page_loads_without_errors_in_light_dark_and_on_a_phone(
    seeded: tuple[Served, Seed], tabs: Tabs
) -> None:
    _, seed = seeded
    views = {
        "jobs": "#/jobs",
        "runs": "#/runs",
        "run-failed": f"#/run/{seed.ids['failed']}",
        "run-running": f"#/run/{seed.ids['running']}",
        "errors": "#/errors",
        "stats": "#/stats",
        "job": "#/job/qci-analysis",
        "alerts": "#/alerts",
        "logs": "#/logs?q=timed%20out",
    }
    for variant, dark, viewport in (
        ("light", False, DESKTOP),
        ("dark", True, DESKTOP),
        ("phone", False, PHONE),
    ):
        for view, fragment in views.items():
            page = await tabs.open(f"/{fragment}", dark=dark, viewport=viewport)
            await wait_until_shown(page, view)
            # Nothing sticks out sideways, not even on a phone.
            overflow = await page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{view} ({variant}) is {overflow}px too wide"
            await shoot(page, f"{view}-{variant}")
            await page.context.close()
            tabs.pages.remove(page)


async def test_the_jobs_page_shows_each_job_with_health_and_recent_runs(tabs: Tabs) -> None:
    page = await tabs.open("/")
    await wait_until_shown(page, "jobs")
    await expect(rows(page)).to_have_count(5)
    qci = page.locator("tr[data-job='qci-analysis']")
    await expect(qci.locator("[data-health]")).to_have_text("failing")
    await expect(qci.locator(".last-run [data-status]")).to_have_text("failed")
    await expect(qci.locator("svg.runbars rect")).to_have_count(6)
    await expect(page.locator("tr[data-job='vapi-sync'] [data-health]")).to_have_text("ok")
    # Problems first.
    await expect(rows(page).first).to_have_attribute("data-job", "qci-analysis")


# --- runs: filters, refresh, pagination -------------------------------------------------------


async def test_filters_change_the_rows_and_live_in_the_url(
    seeded: tuple[Served, Seed], tabs: Tabs
) -> None:
    _, seed = seeded
    total = sum(1 for e in seed.events if e.get("kind") == "run" and "job" in e)
    page = await tabs.open("/#/runs?limit=100")
    await expect(rows(page)).to_have_count(total)

    await page.get_by_role("checkbox", name="failed", exact=True).check()
    await expect(rows(page)).to_have_count(3)
    for status in await rows(page).evaluate_all("rs => rs.map(r => r.dataset.status)"):
        assert status == "failed"
    await page.locator("select[name=job]").select_option("qci-analysis")
    await expect(rows(page)).to_have_count(1)
    await expect(rows(page).first).to_have_attribute("data-run-id", seed.ids["failed"])
    assert "status=failed" in page.url and "job=qci-analysis" in page.url

    # The URL is the whole state: opened elsewhere, it shows the same thing.
    shared = await tabs.open("/" + page.url.split("/", 3)[3])
    await expect(rows(shared)).to_have_count(1)
    await expect(shared.get_by_role("checkbox", name="failed", exact=True)).to_be_checked()
    await expect(shared.locator("select[name=job]")).to_have_value("qci-analysis")

    await page.get_by_role("button", name="Clear filters").click()
    await page.locator("select[name=range]").select_option("1h")
    # Only the import started three minutes ago began within the last hour.
    await expect(rows(page)).to_have_count(1)
    await expect(rows(page).first).to_have_attribute("data-run-id", seed.ids["running"])
    await expect(rows(page).first.get_by_role("progressbar")).to_have_attribute(
        "aria-valuenow", "40"
    )


async def test_runs_are_paged_with_next_cursor(tabs: Tabs) -> None:
    page = await tabs.open("/#/runs?limit=10")
    await expect(rows(page)).to_have_count(10)
    first = await rows(page).first.get_attribute("data-run-id")
    await page.get_by_role("button", name="Older →").click()
    await expect(rows(page).first).not_to_have_attribute("data-run-id", first or "")
    await expect(rows(page)).to_have_count(10)
    assert "cursor=" in page.url
    await page.get_by_role("button", name="← Newer").click()
    await expect(rows(page).first).to_have_attribute("data-run-id", first or "")


async def test_a_run_added_through_the_api_appears_without_reloading(
    seeded: tuple[Served, Seed], tabs: Tabs
) -> None:
    served, _ = seeded
    page = await tabs.open(f"/{FAST}#/runs")
    await wait_until_shown(page, "runs")
    await page.evaluate("window.sameDocument = true")
    async with served.http.post(
        "v1/runs", json={"job": "brand-new", "trigger": "manual"}
    ) as answer:
        assert answer.status == 201
        run_id = (await answer.json())["run_id"]
    fresh = page.locator(f"tr[data-run-id='{run_id}']")
    await expect(fresh).to_be_visible()
    await expect(fresh.locator("[data-status]")).to_have_text("running")
    async with served.http.post(f"v1/runs/{run_id}/finish", json={"status": "failed"}) as answer:
        assert answer.status == 200
    await expect(fresh.locator("[data-status]")).to_have_text("failed")
    assert await page.evaluate("window.sameDocument") is True

    # And on the jobs page, the first thing a new user sees.
    jobs = await tabs.open(f"/{FAST}")
    await wait_until_shown(jobs, "jobs")
    newer = {"kind": "run", "run_id": str(uuid.uuid4()), "job": "newer", "status": "success"}
    await post_events(served, [newer])
    await expect(jobs.locator("tr[data-job='newer']")).to_be_visible()


async def test_auto_refresh_is_every_10_s_and_can_be_paused(
    seeded: tuple[Served, Seed], tabs: Tabs
) -> None:
    served, _ = seeded
    page = await tabs.open("/#/runs")
    await wait_until_shown(page, "runs")
    assert await page.locator("body").get_attribute("data-refresh-ms") == "10000"

    page = await tabs.open(f"/{FAST}#/runs")
    await wait_until_shown(page, "runs")
    pause = page.get_by_role("button", name="Pause auto-refresh")
    await pause.click()
    await expect(page.get_by_role("button", name="Resume auto-refresh")).to_have_attribute(
        "aria-pressed", "true"
    )
    # A refresh already on its way when the button was pressed may still land: wait until
    # the count holds still before taking it.
    loads = await page.locator("main").get_attribute("data-loads")
    for _ in range(5):
        await page.wait_for_timeout(700)  # over two refresh intervals
        settled = await page.locator("main").get_attribute("data-loads")
        if settled == loads:
            break
        loads = settled
    else:
        pytest.fail(f"the page kept loading while paused ({loads} loads)")
    run_id = str(uuid.uuid4())
    await post_events(served, [{"kind": "run", "run_id": run_id, "job": "while-paused"}])
    await page.wait_for_timeout(1500)  # five refresh intervals, all skipped
    assert await page.locator("main").get_attribute("data-loads") == loads
    await expect(page.locator(f"tr[data-run-id='{run_id}']")).to_have_count(0)
    await page.get_by_role("button", name="Resume auto-refresh").click()
    await expect(page.locator(f"tr[data-run-id='{run_id}']")).to_be_visible()


# --- colours, contrast, keyboard --------------------------------------------------------------

LIGHT_BADGES = {
    "success": "rgb(220, 252, 231)",
    "warning": "rgb(254, 243, 199)",
    "failed": "rgb(254, 226, 226)",
    "running": "rgb(219, 234, 254)",
    "cancelled": "rgb(229, 231, 235)",
    "timed_out": "rgb(255, 237, 213)",
}

CONTRAST_JS = """
els => els.map(el => {
  const rgb = s => s.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = c => { const [r, g, b] = c.map(v => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const style = getComputedStyle(el);
  const [a, b] = [lum(rgb(style.color)), lum(rgb(style.backgroundColor))];
  return [el.textContent, (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)];
})
"""


async def test_status_colours_are_right_and_readable_in_both_themes(tabs: Tabs) -> None:
    page = await tabs.open("/#/runs?limit=100")
    await wait_until_shown(page, "runs")
    for status, colour in LIGHT_BADGES.items():
        badge = page.locator(f"tbody [data-status='{status}'].badge").first
        await expect(badge).to_have_text(status.replace("_", " "))  # colour is not all it says
        await expect(badge).to_have_css("background-color", colour)
        row = page.locator(f"tr[data-status='{status}']").first
        assert await row.get_attribute("class") == f"status-row status-{status}"
    for dark in (False, True):
        for fragment in ("#/runs?limit=100", "#/jobs"):
            page = await tabs.open(f"/{fragment}", dark=dark)
            await wait_until_shown(page, fragment[2:6])
            ratios = await page.locator(".badge").evaluate_all(CONTRAST_JS)
            assert ratios
            poor = [(text, round(r, 2)) for text, r in ratios if r < 4.5]
            assert not poor, f"contrast below 4.5:1 ({'dark' if dark else 'light'}): {poor}"


async def test_controls_are_reachable_with_the_keyboard(
    seeded: tuple[Served, Seed], tabs: Tabs
) -> None:
    _, seed = seeded
    page = await tabs.open("/#/runs?status=failed")
    await wait_until_shown(page, "runs")
    reached: list[str] = []
    for _ in range(40):
        await page.keyboard.press("Tab")
        reached.append(
            await page.evaluate(
                "(el => el.getAttribute('aria-label') || el.name || el.textContent.trim())"
                "(document.activeElement)"
            )
        )
    for control in ("Runs", "Pause auto-refresh", "job", "status", "range", "Clear filters"):
        assert control in reached, f"{control} not reached by Tab: {reached}"
    # Enter on a run's link opens it.
    link = page.locator(f"tr[data-run-id='{seed.ids['failed']}'] a").first
    await link.focus()
    await page.keyboard.press("Enter")
    await expect(page.locator(".error-box")).to_be_visible()


# --- one run -----------------------------------------------------------------------------------


async def test_from_the_jobs_page_to_a_failed_runs_stack_in_two_clicks(tabs: Tabs) -> None:
    page = await tabs.open("/")
    await wait_until_shown(page, "jobs")
    await page.locator("tr[data-job='qci-analysis'] .last-run").click()  # click 1
    stack = page.locator(".error-box details.stack")
    await expect(stack).to_have_attribute("open", "")  # already folded out: no click 2
    await expect(stack.locator("pre")).to_be_visible()
    await expect(stack.locator("pre")).to_contain_text("Traceback (most recent call last)")
    await expect(page.locator(".error-box .error-headline")).to_have_text(
        "TimeoutError: OpenAI request timed out after 30 s"
    )
    # The error log line in the timeline has its stack open too.
    line = page.locator(".timeline li[data-level='error']")
    await expect(line.locator("details.stack pre")).to_contain_text("APITimeoutError")
    await shoot(page, "two-clicks-failed-run")


async def test_a_failed_run_says_what_changed_since_the_last_success(
    seeded: tuple[Served, Seed], tabs: Tabs
) -> None:
    served, seed = seeded
    page = await tabs.open(f"/#/run/{seed.ids['failed']}")
    changes = page.locator("section.run-changes")
    await expect(changes.locator("h2")).to_have_text("Since the last success")
    items = changes.locator("ul.changes li")
    await expect(items.first).to_have_text(
        "new error in ANALYZE: 'OpenAI request timed out after 30 s' \u00d71"
    )
    await expect(changes).to_contain_text("took ")
    await expect(changes).to_contain_text("usually")
    # The run compared with is the job's previous run (a success), one click away.
    async with served.http.get(f"v1/runs/{seed.ids['failed']}/compare") as answer:
        previous = (await answer.json())["with"]["run_id"]
    await expect(changes.locator("a")).to_have_attribute("href", f"#/run/{previous}")
    await shoot(page, "run-failed-changes")


async def test_a_runs_logs_filter_by_level_step_and_text(
    seeded: tuple[Served, Seed], tabs: Tabs
) -> None:
    _, seed = seeded
    page = await tabs.open(f"/#/run/{seed.ids['failed']}")
    lines = page.locator(".timeline li")
    await expect(lines).to_have_count(5)
    await page.locator("select[name=level]").select_option("warning")
    await expect(lines).to_have_count(2)
    assert "level=warning" in page.url
    await page.locator("select[name=level]").select_option("")
    await page.locator("select[name=step]").select_option("FETCH")
    await expect(lines).to_have_count(1)
    await page.locator("select[name=step]").select_option("")
    await page.locator("input[name=q]").fill("timed out")
    await expect(lines).to_have_count(1)
    await expect(lines.locator("mark")).to_have_text("timed out")
    await expect(page).to_have_url(re.compile(r"q=timed(\+|%20)out"))


async def test_a_running_run_tails_its_new_log_lines_live(
    seeded: tuple[Served, Seed], tabs: Tabs
) -> None:
    served, seed = seeded
    run_id = seed.ids["running"]
    page = await tabs.open(f"/{FAST}#/run/{run_id}")
    await expect(page.locator(".timeline li")).to_have_count(2)
    await expect(page.locator(".live")).to_have_text("● live")
    line = {"run_id": run_id, "step": "IMPORT", "level": "warning", "message": "game 77 skipped"}
    await post_events(served, [line])
    fresh = page.locator(".timeline li", has_text="game 77 skipped")
    await expect(fresh).to_be_visible()
    await expect(fresh.locator("[data-level]")).to_have_text("warning")
    await post_events(served, [{"kind": "run", "run_id": run_id, "progress": 90}])
    await expect(page.locator(".run-head").get_by_role("progressbar")).to_have_attribute(
        "aria-valuenow", "90"
    )
    await post_events(served, [{"kind": "run", "run_id": run_id, "status": "success"}])
    await expect(page.locator(".run-head h1 [data-status]")).to_have_text("success")
    await expect(page.locator(".live")).to_be_hidden()


# --- errors and stats ------------------------------------------------------------------------


async def test_errors_are_grouped_and_lead_to_their_runs(
    seeded: tuple[Served, Seed], tabs: Tabs
) -> None:
    _, seed = seeded
    page = await tabs.open("/#/errors")
    by_step = page.locator("section[data-by='step'] tbody tr")
    await expect(by_step).to_have_count(3)
    steps = sorted(await page.locator("section[data-by='step'] tbody th").all_inner_texts())
    assert steps == ["ANALYZE", "FETCH", "LOGIN"]
    await expect(page.locator("section[data-by='fingerprint'] tbody tr")).to_have_count(3)
    analyze = page.locator("section[data-by='step'] tbody tr", has_text="ANALYZE")
    await analyze.get_by_text("Latest runs with it").click()
    await analyze.locator(".occurrences a").first.click()
    await expect(page).to_have_url(re.compile(seed.ids["failed"]))
    await expect(page.locator(".error-box pre")).to_contain_text("Traceback")


async def test_stats_draw_their_charts_from_the_api(tabs: Tabs) -> None:
    page = await tabs.open("/#/stats?days=7")
    await wait_until_shown(page, "stats")
    runs_tile = page.locator(".tile[data-tile='runs']")
    await expect(runs_tile.locator(".tile-value")).to_have_text("31")
    charts = page.locator("figure.chart-box")
    await expect(charts.filter(has_text="Runs per day").locator("rect.bar").first).to_be_visible()
    await expect(
        charts.filter(has_text="Success rate per day").locator("circle.dot").first
    ).to_be_visible()
    await expect(
        charts.filter(has_text="Log lines per day").locator("rect.fill-level-error").first
    ).to_be_visible()
    durations = charts.filter(has_text="Duration per day")
    await expect(durations.locator("path.line")).to_have_count(2)  # p50 and p95
    await page.locator("select[name=job]").select_option("vapi-sync")
    await expect(runs_tile.locator(".tile-value")).to_have_text("12")
    assert "job=vapi-sync" in page.url


# --- tokens ------------------------------------------------------------------------------------


async def test_with_tokens_on_the_page_asks_for_a_read_token_once(
    server_factory: Callable[..., Awaitable[Served]], tabs_on: Callable[[Served], Tabs]
) -> None:
    served = await server_factory(tokens=parse_tokens(TOKENS_TEXT))
    seed = Seed()
    await post_events(served, seed.events, token="ingest-token")
    tabs = tabs_on(served)
    # The browser reports each 401/403 answer on the console; those are expected here.
    tabs.allowed.append(re.compile(r"status of 40[13]"))
    page = await tabs.open("/")
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_be_visible()
    await shoot(page, "token-dialog")
    await dialog.get_by_label(re.compile("Token")).fill("ingest-token")  # lacks the read scope
    await dialog.get_by_role("button", name="Continue").click()
    await expect(dialog).to_contain_text("lacks the read scope")
    await dialog.get_by_label(re.compile("Token")).fill("read-token")
    await dialog.get_by_role("button", name="Continue").click()
    await expect(dialog).to_be_hidden()
    await wait_until_shown(page, "jobs")
    await page.goto(f"{served.url}/{FAST}#/run/{seed.ids['running']}")
    await page.reload()
    await expect(page.locator(".timeline li")).to_have_count(2)
    await expect(dialog).to_be_hidden()  # asked once per browser session
    # The live tail gets the token too (EventSource sends it as ?token=).
    line = {"run_id": seed.ids["running"], "message": "tailed with a token"}
    await post_events(served, [line], token="ingest-token")
    await expect(page.locator(".timeline li", has_text="tailed with a token")).to_be_visible()


# --- a long run's live tail -------------------------------------------------------------------

LONG_RUN_LINES = 6_000
FIRST_ERROR = 1_234


async def long_run(served: Served) -> str:
    """A running run of 6,000 lines, 10 ms apart: errors at line 1,234 and 5,800, and one
    message of 2,000 characters, posted in big batches (COPY-speed ingest)."""
    run_id = str(uuid.uuid4())
    started = datetime.now(UTC) - timedelta(minutes=10)
    events: list[dict[str, Any]] = [
        {"kind": "run", "run_id": run_id, "job": "long-import", "started_at": started.isoformat()}
    ]
    for i in range(LONG_RUN_LINES):
        line: dict[str, Any] = {
            "run_id": run_id,
            "ts": (started + timedelta(milliseconds=10 * i)).isoformat(),
            "step": "IMPORT",
            "message": f"line {i:05d}",
        }
        if i in (FIRST_ERROR, 5_800):
            line.update(level="error", message=f"line {i:05d} failed: row rejected")
        if i == 5_990:
            line["message"] = f"line {i:05d} long: ".ljust(2_000, "x")
        events.append(line)
    for at in range(0, len(events), 2_000):
        await post_events(served, events[at : at + 2_000])
    return run_id


@pytest.mark.parametrize("width", ["desktop", "phone"])
async def test_a_long_runs_tail_opens_at_the_newest_line_and_keeps_what_it_shows(
    seeded: tuple[Served, Seed], tabs: Tabs, width: str
) -> None:
    served, _ = seeded
    run_id = await long_run(served)
    page = await tabs.open(
        f"/{FAST}#/run/{run_id}", viewport=DESKTOP if width == "desktop" else PHONE
    )
    lines = page.locator(".timeline li")
    # Opened at the newest line, newest first.
    await expect(lines.first).to_contain_text("line 05999")
    await expect(lines).to_have_count(500)
    await expect(page.locator(".live")).to_have_text("● live")
    await page.evaluate("window.sameDocument = true")
    await shoot(page, f"run-long-tail-{width}", full_page=False)

    # Older lines are added below; the lines already shown are the same DOM nodes.
    await lines.evaluate_all("ls => ls.forEach(li => { li.kept = true; })")
    await page.get_by_role("button", name="Load older lines").click()
    await expect(lines).to_have_count(1_000)
    await expect(lines.nth(999)).to_contain_text("line 05000")
    kept = "ls => ls.filter(li => li.kept).length"
    assert await lines.evaluate_all(kept) == 500

    # A line posted now appears on top although the page has paged, without a reload.
    await post_events(
        served, [{"run_id": run_id, "level": "warning", "message": "tail after paging"}]
    )
    await expect(lines.first).to_contain_text("tail after paging")
    assert await lines.evaluate_all(kept) == 500

    # A long message is shortened, with a control that shows all of it.
    long = lines.filter(has_text="line 05990 long")
    text = long.locator(".log-message")
    assert len(await text.inner_text()) < 500
    expand = long.get_by_role("button", name="Show all 2,000 characters")
    await expect(expand).to_have_attribute("aria-expanded", "false")
    await expand.click()
    await expect(long.get_by_role("button", name="Show less")).to_have_attribute(
        "aria-expanded", "true"
    )
    assert len(await text.inner_text()) == 2_000

    # Jump to the first error: pages are read down to it, and it is scrolled to.
    await page.get_by_role("button", name="Jump to first error").click()
    first_error = lines.filter(has_text=f"line {FIRST_ERROR:05d} failed")
    # Up to five pages are read and drawn on the way: a loaded machine needs more than 10 s.
    await expect(first_error).to_have_class(re.compile(r"\bjumped\b"), timeout=30_000)
    await expect(first_error).to_be_in_viewport()
    assert await lines.evaluate_all(kept) == 500
    await shoot(page, f"run-long-first-error-{width}", full_page=False)  # 5,000 lines long

    # Ended 299.6 s after it started: the duration is never "4 min 60 s".
    async with served.http.get(f"v1/runs/{run_id}") as answer:
        started = datetime.fromisoformat((await answer.json())["started_at"])
    finished = started + timedelta(seconds=299.6)
    await post_events(
        served,
        [
            {
                "kind": "run",
                "run_id": run_id,
                "status": "failed",
                "finished_at": finished.isoformat(),
            }
        ],
    )
    duration = page.locator(".run-head dt", has_text="Duration").locator(
        "xpath=following-sibling::dd[1]"
    )
    await expect(duration).to_have_text("5 min 0 s")
    await expect(page.locator(".live")).to_be_hidden()
    assert await lines.evaluate_all(kept) == 500
    assert await page.evaluate("window.sameDocument") is True


async def test_durations_are_rounded_before_they_are_split(tabs: Tabs) -> None:
    page = await tabs.open("/")
    await wait_until_shown(page, "jobs")
    shown = await page.evaluate(
        """import("./static/dom.js").then(({ fmtDuration }) =>
          [850, 999.6, 9_999, 59_960, 125_000, 299_600, 3_599_600, 7_530_000].map(fmtDuration))"""
    )
    assert shown == [
        "850 ms", "1.00 s", "10.0 s", "1 min 0 s", "2 min 5 s", "5 min 0 s", "1 h 0 min",
        "2 h 6 min",
    ]  # fmt: skip
