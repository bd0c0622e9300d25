"""The dashboard: `/` and its static files (HTML, CSS, JavaScript modules), no auth.

The page itself holds no data; it calls the read API, which asks for a token when tokens are on.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from ingestd.http.problems import Problem

routes = web.RouteTableDef()

STATIC_DIR = Path(__file__).with_name("static")
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    # Module scripts are refused by browsers unless served with a JavaScript type.
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
# The page builds its DOM from the API's JSON with textContent, never innerHTML, and loads
# nothing from elsewhere: the policy says so, so a bug cannot turn a log line into a script.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidate every time (ETag/Last-Modified make that cheap): an upgraded ingestd never
    # serves one module from the cache beside another from the new version.
    "Cache-Control": "no-cache",
}


def _files() -> dict[str, Path]:
    """The servable files by name, fixed at start: a request can name nothing else."""
    if not STATIC_DIR.is_dir():
        return {}
    return {
        path.name: path
        for path in STATIC_DIR.iterdir()
        if path.is_file() and path.suffix in CONTENT_TYPES
    }


FILES = _files()


def _serve(name: str) -> web.FileResponse:
    path = FILES.get(name)
    if path is None:
        raise Problem(404, "Not Found", f"no dashboard file named {name!r}")
    headers = {"Content-Type": CONTENT_TYPES[path.suffix], **SECURITY_HEADERS}
    return web.FileResponse(path, headers=headers)


@routes.get("/")
async def index(request: web.Request) -> web.FileResponse:
    return _serve("index.html")


@routes.get("/static/{name}")
async def static_file(request: web.Request) -> web.FileResponse:
    return _serve(request.match_info["name"])
