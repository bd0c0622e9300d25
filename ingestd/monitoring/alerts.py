"""Alerts: recorded once per occurrence, then delivered to webhooks and Apprise URLs with
retries.

An alert's key names its occurrence (`failed:<run>`, `missed:<job>:<slot>` ...) and is
unique in the alerts table, so raising it twice, from one monitor or two, records it once.
Deliveries are claimed with a lease before they are sent (FOR UPDATE SKIP LOCKED), so two
replicas never send the same one; a failed attempt is retried with exponential backoff
until INGESTD_ALERT_MAX_ATTEMPTS, then marked failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import orjson
from aiohttp import web

from ingestd.db.database import RETRYABLE_ERRORS, Conn
from ingestd.monitoring import apprise_targets, sql, webhook_guard, webhooks
from ingestd.monitoring.clock import Clock
from ingestd.monitoring.webhooks import Target
from ingestd.retry import Backoff

log = logging.getLogger("ingestd.alerts")

CLAIM_BATCH = 20
MAX_BACKOFF_S = 3600.0
#: Waits while the database is away.
DB_RETRY_FIRST_S = 0.5
DB_RETRY_MAX_S = 30.0
ERROR_CHARS = 300


@dataclass(frozen=True, slots=True)
class AlertSpec:
    """An alert to raise: `key` makes it once per occurrence."""

    key: str
    rule: str
    job: str | None
    run_id: str | None
    text: str
    details: dict[str, Any] = field(default_factory=dict)
    targets: tuple[Target, ...] = ()


async def store(conn: Conn, alerts: list[AlertSpec], now: datetime) -> int:
    """Record the alerts not recorded before, with a delivery per target; how many were new."""
    new = 0
    for alert in alerts:
        alert_id = await conn.fetchval(
            sql.INSERT_ALERT,
            alert.key,
            alert.rule,
            alert.job,
            alert.run_id,
            now,
            alert.text,
            orjson.dumps(alert.details).decode(),
        )
        if alert_id is None:
            continue  # raised before
        new += 1
        log.info("alert %s: %s", alert.key, alert.text)
        if alert.targets:
            await conn.execute(
                sql.INSERT_DELIVERIES,
                alert_id,
                [t.url for t in alert.targets],
                [t.format for t in alert.targets],
                now,
            )
    return new


def payload(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "alert_id": row["alert_id"],
        "rule": row["rule"],
        "job": row["job"],
        "run_id": row["run_id"],
        "created_at": row["created_at"].isoformat(),
        "text": row["text"],
        "details": orjson.loads(row["details"]),
    }


def redacted_target(url: str, target_format: str) -> str:
    """A delivery's target without its secrets, for logs and those who may not change it."""
    if target_format == apprise_targets.FORMAT:
        return apprise_targets.redacted(url)
    return webhooks.redacted(url)


@dataclass(slots=True)
class DeliveryStats:
    sent: int = 0
    #: Deliveries given up after the last attempt.
    failed: int = 0
    #: Attempts that failed (each retried until the last).
    errors: int = 0


class Dispatcher:
    """Sends due deliveries; every replica runs one, the lease keeps them apart."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        *,
        timeout_s: float,
        max_attempts: int,
        retry_base_s: float,
        idle_s: float,
        allow_private: bool = False,
    ) -> None:
        self.pool = pool
        self.clock = clock
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.retry_base_s = retry_base_s
        #: A failed delivery's next attempt: jittered a little, so a receiver that was
        #: down is not hit by every pending alert at once.
        self.retries = Backoff(retry_base_s, MAX_BACKOFF_S, jitter=0.2)
        self.idle_s = idle_s
        self.allow_private = allow_private
        self.stats = DeliveryStats()
        self._wake = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self.apprise = apprise_targets.Sender(timeout_s=timeout_s, allow_private=allow_private)

    def wake(self) -> None:
        self._wake.set()

    def backoff(self, attempts: int) -> timedelta:
        return timedelta(seconds=self.retries.delay(attempts))

    def _new_session(self) -> aiohttp.ClientSession:
        # Every connection's socket is made by the guard, after DNS, so a webhook cannot be
        # pointed (or rebound) at a private address. No proxy from the environment either.
        connector = None
        if not self.allow_private:
            connector = aiohttp.TCPConnector(socket_factory=webhook_guard.public_socket)
        return aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            connector=connector,
            trust_env=False,
        )

    async def run(self) -> None:
        async with self._new_session() as session:
            self._session = session
            backoff = Backoff(DB_RETRY_FIRST_S, DB_RETRY_MAX_S)
            while True:
                self._wake.clear()
                try:
                    if await self.deliver_due():
                        continue  # there may be more
                    wait = await self._until_next()
                    backoff.reset()
                except RETRYABLE_ERRORS as exc:
                    wait = backoff.next()
                    log.warning("alert delivery: database error, retrying in %.1fs: %r", wait, exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)

    async def _until_next(self) -> float:
        async with self.pool.acquire() as conn:
            due: datetime | None = await conn.fetchval(sql.NEXT_DELIVERY_AT)
        if due is None:
            return self.idle_s
        return min(self.idle_s, max(0.01, (due - self.clock.now()).total_seconds()))

    async def deliver_due(self) -> int:
        """Claim what is due and send it; how many were attempted."""
        now = self.clock.now()
        lease = now + timedelta(seconds=2 * self.timeout_s + 5)
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(sql.CLAIM_DELIVERIES, now, lease, CLAIM_BATCH)
        if rows:
            await asyncio.gather(*(self._deliver(row) for row in rows))
        return len(rows)

    async def _deliver(self, row: asyncpg.Record) -> None:
        error = await self.send(row["target"], row["format"], payload(row))
        now = self.clock.now()
        async with self.pool.acquire() as conn:
            if error is None:
                await conn.execute(sql.DELIVERED, row["alert_id"], row["target"], now)
                self.stats.sent += 1
                return
            self.stats.errors += 1
            attempts = row["attempts"] + 1
            status = await conn.fetchval(
                sql.DELIVERY_FAILED,
                row["alert_id"],
                row["target"],
                error,
                now + self.backoff(attempts),
                self.max_attempts,
            )
        if status == "failed":
            self.stats.failed += 1
            log.error(
                "alert %d to %s failed %d times, giving up: %s",
                row["alert_id"],
                redacted_target(row["target"], row["format"]),
                attempts,
                error,
            )
        else:
            log.warning(
                "alert %d to %s failed (attempt %d), will retry: %s",
                row["alert_id"],
                redacted_target(row["target"], row["format"]),
                attempts,
                error,
            )

    async def send(self, target: str, target_format: str, alert: dict[str, Any]) -> str | None:
        """Send one alert to one target now; None when it was taken, else what went wrong."""
        if target_format == apprise_targets.FORMAT:
            return await self.apprise.send(target, alert)
        return await self._post(target, webhooks.body(target_format, alert))

    async def _post(self, url: str, body: dict[str, Any]) -> str | None:
        """None when the target took it (2xx), else what went wrong."""
        session = self._session
        if session is None:
            session = self._session = self._new_session()
        try:
            async with session.post(
                url,
                data=orjson.dumps(body),
                headers={"Content-Type": "application/json", "User-Agent": "ingestd"},
                allow_redirects=False,
            ) as answer:
                if 200 <= answer.status < 300:
                    return None
                text = (await answer.text(errors="replace"))[:ERROR_CHARS]
                return f"HTTP {answer.status}: {text}".strip()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"[:ERROR_CHARS]

    async def close(self) -> None:
        self.apprise.close()
        if self._session is not None and not self._session.closed:
            await self._session.close()


DISPATCHER = web.AppKey("dispatcher", Dispatcher)
