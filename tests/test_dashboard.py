"""GET / and /static/*: the dashboard's files, served without auth and with a strict policy.

What the page does in a browser is tested in test_dashboard_browser.py.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from ingestd import dashboard
from ingestd.http.auth import parse_tokens
from tests.conftest import TOKENS_TEXT, Served

STATIC = Path(dashboard.__file__).with_name("static")


async def test_the_page_is_served_at_the_root(server: Served) -> None:
    async with server.http.get("") as answer:
        assert answer.status == 200
        assert answer.content_type == "text/html"
        text = await answer.text()
    assert '<script type="module" src="static/app.js">' in text
    policy = answer.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


async def test_modules_are_served_as_javascript(server: Served) -> None:
    # Browsers refuse module scripts served with any other type.
    for name in ("app.js", "api.js", "charts.js"):
        async with server.http.get(f"static/{name}") as answer:
            assert answer.status == 200, name
            assert answer.content_type == "text/javascript"
    async with server.http.get("static/style.css") as answer:
        assert answer.content_type == "text/css"


async def test_the_dashboard_needs_no_token_but_the_api_does(
    server_factory: Callable[..., Awaitable[Served]],
) -> None:
    served = await server_factory(tokens=parse_tokens(TOKENS_TEXT))
    for path in ("", "static/app.js", "static/favicon.svg"):
        async with served.http.get(path) as answer:
            assert answer.status == 200, path
    async with served.http.post("v1/events", json={"message": "x"}) as answer:
        assert answer.status == 401


async def test_unknown_and_sneaky_names_are_not_found(server: Served) -> None:
    for path in (
        "static/nope.js",
        "static/..%2Fdashboard.py",
        "static/%2E%2E%2Fapp.py",
        "static/__init__.py",
    ):
        async with server.http.get(path) as answer:
            assert answer.status == 404, path
            assert answer.content_type == "application/problem+json"


async def test_a_changed_file_is_revalidated_not_served_stale(server: Served) -> None:
    async with server.http.get("static/app.js") as answer:
        etag = answer.headers["ETag"]
        assert answer.headers["Cache-Control"] == "no-cache"
    async with server.http.get("static/app.js", headers={"If-None-Match": etag}) as answer:
        assert answer.status == 304


def test_every_imported_module_exists_and_is_shipped() -> None:
    # No build step: what a module imports must be a file beside it, served by name.
    names = {path.name for path in STATIC.iterdir()}
    assert set(dashboard.FILES) == {n for n in names if Path(n).suffix in dashboard.CONTENT_TYPES}
    for module in STATIC.glob("*.js"):
        for imported in re.findall(r'from "\./([^"]+)"', module.read_text()):
            assert imported in names, f"{module.name} imports missing {imported}"
    html = (STATIC / "index.html").read_text()
    for ref in re.findall(r'(?:src|href)="static/([^"]+)"', html):
        assert ref in names, ref


def test_the_page_loads_nothing_from_elsewhere() -> None:
    for path in STATIC.iterdir():
        text = path.read_text()
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text), path.name
        assert "innerHTML" not in text, f"{path.name}: build nodes with textContent"
