"""The `ingestd` command: `serve` (the default) and `migrate`.

The stop signal is caught first thing in `main`, before the ~0.5 s of importing asyncio,
aiohttp and the app: that is why they are imported inside the functions that use them.
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ingestd import startup

if TYPE_CHECKING:
    import asyncio

    from ingestd.settings import Settings

log = logging.getLogger("ingestd")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ingestd",
        description="Log and run store for scheduled jobs. Settings come from INGESTD_* "
        "variables (see docs/configuration.md); flags override them.",
    )
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate"])
    parser.add_argument("--host", help="address to listen on (INGESTD_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on, 0 for any (INGESTD_PORT)")
    parser.add_argument("--database-url", help="PostgreSQL DSN (INGESTD_DATABASE_URL)")
    parser.add_argument(
        "--data-dir", type=Path, help="embedded PostgreSQL's home (INGESTD_DATA_DIR)"
    )
    parser.add_argument("--log-format", choices=["text", "json"], help="(INGESTD_LOG_FORMAT)")
    return parser


def _listen(host: str, port: int) -> socket.socket:
    """Bind first, so the real port is known (and logged) even when asked for port 0."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        raise startup.StartupError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def _event_loop() -> asyncio.AbstractEventLoop:
    import asyncio

    try:
        import uvloop
    except ImportError:  # not on Windows; the standard loop works, a bit slower
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def serve(settings: Settings, stop: startup.StopSignal) -> None:
    import asyncio

    from aiohttp import web

    from ingestd import listener
    from ingestd.app import create_app

    with startup.data_dir_lock(settings.data_path):
        sock = _listen(settings.host, settings.port)
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        log.info("ingestd listening on http://%s:%d", shown, port)
        with startup.database(settings) as dsn:
            # A stop signal during the embedded server's start waits for it to finish (a
            # half-started server would be left behind), then stops it at once.
            if stop.received is not None:
                log.info("stop signal received while starting: not serving")
                return
            app = create_app(settings.with_overrides(database_url=dsn))

            async def forward_stop(app: web.Application) -> None:
                # A signal noted since the check above goes to run_app's handler, once
                # startup is done (so that run_app runs the cleanup).
                asyncio.get_running_loop().call_soon(stop.forward)

            app.on_startup.append(forward_stop)
            try:
                listener.run_app(
                    app,
                    sock,
                    max_connections=settings.max_connections,
                    grace_s=settings.request_grace_s,
                    loop_factory=_event_loop,
                )
            finally:
                # run_app's AppRunner gives SIGTERM back to its default action: it must not cut the
                # embedded server's stop short.
                stop.install()


async def _migrate(settings: Settings, dsn: str) -> None:
    from ingestd.db import database

    pool = await database.create_pool(dsn, 2)
    async with pool.acquire() as conn:
        applied = await database.migrate(conn)
        today = datetime.now(UTC).date()
        days = database.partition_days(today, settings.partitions_ahead_days)
        await database.ensure_partitions(conn, days)
    await pool.close()
    log.info("migrations applied: %s", ", ".join(applied) or "none (up to date)")


def main(argv: Sequence[str] | None = None) -> int:
    stop = startup.StopSignal()
    stop.install()
    import asyncio

    from ingestd import logsetup
    from ingestd.db.embedded import EmbeddedPostgresError
    from ingestd.ingest.spool import SpoolLocked
    from ingestd.settings import SettingsError, from_env

    args = _parser().parse_args(argv)
    try:
        settings = from_env().with_overrides(
            host=args.host,
            port=args.port,
            database_url=args.database_url,
            data_dir=args.data_dir,
            log_format=args.log_format,
        )
        settings.check()
    except SettingsError as exc:
        print(f"ingestd: {exc}", file=sys.stderr)
        return 2
    logsetup.configure(settings.log_format, settings.log_level)
    try:
        if args.command == "migrate":
            with startup.database(settings) as dsn:
                asyncio.run(_migrate(settings, dsn))
        else:
            serve(settings, stop)
    # What an operator can fix; anything else is a bug and keeps its traceback.
    except (startup.StartupError, EmbeddedPostgresError, SpoolLocked) as exc:
        log.error("ingestd cannot start: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
