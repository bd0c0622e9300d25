"""The application: routes, middlewares and lifecycle, wired in one place."""

from __future__ import annotations

from aiohttp import web

from ingestd import dashboard, health, metrics
from ingestd.http.auth import make_auth_middleware
from ingestd.http.problems import problem_middleware
from ingestd.http.protocol_errors import HANDLER_LIMITS
from ingestd.ingest import api as ingest_api
from ingestd.lifecycle import database_ctx, writer_ctx
from ingestd.monitoring import alerts_api, jobs_api, pings_api
from ingestd.monitoring import retention_api as admin_api
from ingestd.monitoring import setup as monitoring
from ingestd.openapi import document as openapi
from ingestd.read import api as read_api
from ingestd.read import compare_api, stats_api
from ingestd.read import tail_api as tail
from ingestd.settings import SETTINGS, Settings


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        # Bodies are inflated by payload.read_body, which answers bad or unknown encodings
        # with a problem document and bounds the inflated size.
        # aiohttp's keep-alive timer runs while a connection waits for a complete request
        # head, and dribbled bytes do not restart it: so it is the header-read deadline too.
        # The parser's limits are named so that an answer past them can say which it was.
        handler_args={
            "auto_decompress": False,
            "keepalive_timeout": settings.header_timeout_s,
            **HANDLER_LIMITS,
        },
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
    app.add_routes(compare_api.routes)
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
