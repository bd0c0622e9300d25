"""The `ingestd` command: `serve` (the default) and `migrate`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from ingestd import listener, logsetup
from ingestd.app import create_app
from ingestd.db import database
from ingestd.lifecycle import database_server
from ingestd.settings import Settings, SettingsError, from_env

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
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    return sock


def _event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # not on Windows; the standard loop works, a bit slower
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def serve(settings: Settings) -> None:
    sock = _listen(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    log.info("ingestd listening on http://%s:%d", shown, port)
    listener.run_app(
        create_app(settings),
        sock,
        max_connections=settings.max_connections,
        grace_s=settings.request_grace_s,
        loop_factory=_event_loop,
    )


async def _migrate(settings: Settings) -> None:
    async with database_server(settings) as dsn:
        pool = await database.create_pool(dsn, 2)
        async with pool.acquire() as conn:
            applied = await database.migrate(conn)
            today = datetime.now(UTC).date()
            days = database.partition_days(today, settings.partitions_ahead_days)
            await database.ensure_partitions(conn, days)
        await pool.close()
        log.info("migrations applied: %s", ", ".join(applied) or "none (up to date)")


def main(argv: Sequence[str] | None = None) -> int:
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
    if args.command == "migrate":
        asyncio.run(_migrate(settings))
    else:
        serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
