"""The application: routes, middlewares and lifecycle, wired in one place."""

from __future__ import annotations

from aiohttp import web

from ingestd import (
    admin_api,
    alerts_api,
    dashboard,
    health,
    ingest_api,
    jobs_api,
    metrics,
    monitoring,
    openapi,
    pings_api,
    read_api,
    stats_api,
    tail,
)
from ingestd.appkeys import SETTINGS
from ingestd.auth import make_auth_middleware
from ingestd.lifecycle import database_ctx, writer_ctx
from ingestd.problems import problem_middleware
from ingestd.settings import Settings


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        # Bodies are inflated by payload.read_body, which answers bad or unknown encodings
        # with a problem document and bounds the inflated size.
        handler_args={"auto_decompress": False},
        middlewares=[problem_middleware, make_auth_middleware(settings.tokens)],
    )
    app[SETTINGS] = settings
    app[metrics.METRICS] = metrics.Metrics(app)
    app.cleanup_ctx.append(database_ctx)
    app.cleanup_ctx.append(writer_ctx)
    app.cleanup_ctx.append(monitoring.monitor_ctx)
    app.cleanup_ctx.append(read_api.read_ctx)
    app.cleanup_ctx.append(tail.tail_ctx)
    app.on_shutdown.append(tail.end_streams)
    app.add_routes(health.routes)
    app.add_routes(ingest_api.routes)
    app.add_routes(read_api.routes)
    app.add_routes(stats_api.routes)
    app.add_routes(tail.routes)
    app.add_routes(admin_api.routes)
    app.add_routes(metrics.routes)
    app.add_routes(pings_api.routes)
    app.add_routes(jobs_api.routes)
    app.add_routes(alerts_api.routes)
    app.add_routes(dashboard.routes)
    app.add_routes(openapi.routes)
    return app
