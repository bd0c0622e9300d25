"""Settings: one frozen object, built once from INGESTD_* variables and CLI flags.

Nothing else in ingestd reads os.environ. Every variable is documented in
docs/configuration.md; a bad value fails loudly, naming the variable.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, get_type_hints

from aiohttp import web

from ingestd.db.embedded import default_data_dir
from ingestd.http.auth import Tokens, parse_tokens
from ingestd.monitoring.apprise_targets import FORMAT as APPRISE
from ingestd.monitoring.apprise_targets import AppriseError, parse_urls_text
from ingestd.monitoring.webhooks import Target, TargetError, parse_targets_text

DURABILITY_MODES = ("memory", "spool")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything ingestd can be told. Tests build this directly."""

    host: str = "127.0.0.1"
    port: int = 8080
    #: PostgreSQL DSN; None means the embedded PostgreSQL kept in data_dir.
    database_url: str | None = None
    data_dir: Path | None = None
    tokens: Tokens = field(default_factory=dict)
    #: Serve without tokens on a non-loopback address (off: refuse to start).
    allow_open: bool = False
    durability: str = "memory"

    # Limits on what one request may carry.
    max_body_bytes: int = 10 * 1024 * 1024
    max_message_bytes: int = 64 * 1024
    max_attrs_bytes: int = 64 * 1024
    max_attrs_depth: int = 16

    #: Seconds a connection has to send a complete request head, from its opening or its
    #: previous answer (so also how long an idle keep-alive connection stays open).
    header_timeout_s: float = 20.0
    #: Seconds a request has to send its whole body once its head is in; past it, 408.
    body_timeout_s: float = 60.0
    #: Connections open at once; past it, a new one is answered 503 and closed.
    max_connections: int = 500

    # The in-memory queue between HTTP handlers and the writer.
    queue_max_events: int = 100_000
    queue_max_bytes: int = 128 * 1024 * 1024
    #: When memory is full but the writer is draining it: how long a request waits for room
    #: before its events go to the spool (0: at once).
    queue_full_wait_s: float = 2.0
    #: The disk spool behind the queue (in data_dir/spool).
    spool_max_bytes: int = 1024 * 1024 * 1024
    #: How long ?wait=commit and the REST run endpoints wait for the commit.
    commit_wait_s: float = 30.0
    #: Per-client ingestion rate limit in events/s (0: none), and the burst allowed.
    client_rate_limit: float = 0.0
    client_burst: float = 0.0

    # The batch writer: flush at this many events or after this long.
    batch_max_events: int = 5_000
    batch_max_wait_ms: int = 100
    #: Batches in flight at once, each on its own connection: the next batch's COPY runs
    #: while the one before it commits (commits still happen in order).
    writer_connections: int = 2
    db_pool_size: int = 6
    retry_max_backoff_s: float = 5.0

    # The live tail (GET /v1/tail).
    #: Streams open at once; past it, 503.
    tail_max_subscribers: int = 1000
    #: Bytes of lines one stream may have waiting before it is cut off as too slow.
    tail_max_buffer_bytes: int = 8 * 1024 * 1024

    # Seconds SIGTERM may spend finishing requests and draining the queue.
    shutdown_budget_s: float = 8.0
    partitions_ahead_days: int = 3
    log_format: str = "text"
    log_level: str = "info"

    # Watching the jobs (monitor.py, alerts.py, retention.py; docs/monitoring.md).
    #: Seconds between monitor ticks (missed, late, timed-out runs; alert rules).
    monitor_interval_s: float = 5.0
    #: A finished run that reached ingestd this many seconds after it ended (a backfill of
    #: history) is judged, and marked, but raises no alert; 0 alerts on every run.
    alert_max_arrival_delay_s: float = 86400.0
    #: Webhooks every job's alerts go to (unless a job opts out), besides its own.
    alert_webhooks: tuple[Target, ...] = ()
    #: Apprise URLs (email, Telegram, Teams ...) every job's alerts go to, like alert_webhooks.
    alert_apprise_urls: tuple[Target, ...] = ()
    #: Let webhooks reach private, loopback and link-local addresses (an on-premises chat
    #: server); off, they may only go to public addresses, checked after DNS.
    webhook_allow_private: bool = False
    alert_timeout_s: float = 10.0
    alert_max_attempts: int = 10
    #: First retry delay of a failed delivery; doubled per attempt, at most an hour.
    alert_retry_base_s: float = 5.0
    #: Logs kept this many days (0: forever); failed/warning runs' logs and runs, their own.
    retention_logs_days: int = 30
    retention_failed_logs_days: int = 90
    retention_runs_days: int = 400
    retention_interval_s: float = 3600.0

    @property
    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def data_path(self) -> Path:
        """Where the embedded PostgreSQL (pg/) and the spool (spool/) live."""
        return self.data_dir or default_data_dir()

    @property
    def request_grace_s(self) -> float:
        """Of the shutdown budget: time for in-flight requests to finish."""
        return min(2.0, self.shutdown_budget_s / 4)

    @property
    def drain_budget_s(self) -> float:
        """Of the shutdown budget: time to write what is queued."""
        return self.shutdown_budget_s - self.request_grace_s

    def check(self) -> None:
        """Refuse combinations that would be unsafe or cannot work."""
        if not self.tokens and not self.is_loopback and not self.allow_open:
            raise SettingsError(
                f"ingestd would listen on {self.host} with no tokens, open to anyone who can "
                "reach it. Set INGESTD_TOKENS (e.g. 'secret1:ingest secret2:read') or "
                "INGESTD_TOKENS_FILE, or set INGESTD_ALLOW_OPEN=1 if that is what you want."
            )
        if self.db_pool_size <= self.writer_connections:
            raise SettingsError(
                f"INGESTD_DB_POOL_SIZE ({self.db_pool_size}) must be larger than "
                f"INGESTD_WRITER_CONNECTIONS ({self.writer_connections}): reads need one too"
            )
        if self.header_timeout_s <= 0:
            raise SettingsError(
                f"INGESTD_HEADER_TIMEOUT_S must be more than 0, not {self.header_timeout_s}"
            )
        if self.body_timeout_s <= 0:
            raise SettingsError(
                f"INGESTD_BODY_TIMEOUT_S must be more than 0, not {self.body_timeout_s}"
            )
        if self.durability not in DURABILITY_MODES:
            raise SettingsError(
                f"INGESTD_DURABILITY must be one of {', '.join(DURABILITY_MODES)}, "
                f"not {self.durability!r}"
            )

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, not {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, not {raw!r}") from None
    if value < 0:
        raise SettingsError(f"{name} must not be negative, not {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise SettingsError(f"{name} must be 1/true/yes or 0/false/no, not {raw!r}")


def _secret(env: Mapping[str, str], name: str) -> str | None:
    """NAME, or the contents of the file named by NAME_FILE (for container secrets)."""
    direct = env.get(name)
    file_name = env.get(f"{name}_FILE")
    if direct is not None and file_name is not None:
        raise SettingsError(f"set {name} or {name}_FILE, not both")
    if file_name is not None:
        try:
            return Path(file_name).read_text(encoding="utf-8")
        except OSError as exc:
            raise SettingsError(f"{name}_FILE: cannot read {file_name}: {exc}") from None
    return direct


#: Lower bounds of whole-number settings (the others: 0).
_MINIMUMS = {
    "max_body_bytes": 1024,
    "max_message_bytes": 64,
    "max_attrs_bytes": 64,
    "max_attrs_depth": 1,
    "max_connections": 1,
    "queue_max_events": 1,
    "queue_max_bytes": 1024,
    "spool_max_bytes": 4096,
    "batch_max_events": 1,
    "writer_connections": 1,
    "db_pool_size": 2,
    "tail_max_subscribers": 1,
    "tail_max_buffer_bytes": 65536,
    "partitions_ahead_days": 1,
    "alert_max_attempts": 1,
}
#: Words read in any case.
_LOWERED = ("durability", "log_format", "log_level")
#: Read by from_env itself: secrets, a path, parsed lists.
_OWN_READERS = ("tokens", "database_url", "data_dir", "alert_webhooks", "alert_apprise_urls")


def env_name(setting: str) -> str:
    """The variable of a Settings field: its name in capitals after INGESTD_."""
    return f"INGESTD_{setting.upper()}"


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Build settings from INGESTD_* variables (default: the process environment)."""
    env = os.environ if env is None else env
    defaults = Settings()
    values: dict[str, Any] = {}
    for setting, kind in get_type_hints(Settings).items():
        name, default = env_name(setting), getattr(defaults, setting)
        if setting in _OWN_READERS:
            continue
        if kind is bool:
            values[setting] = _bool(env, name, default)
        elif kind is int:
            values[setting] = _int(env, name, default, _MINIMUMS.get(setting, 0))
        elif kind is float:
            values[setting] = _float(env, name, default)
        elif kind is str:
            value = env.get(name, default)
            values[setting] = value.lower() if setting in _LOWERED else value
        else:
            raise TypeError(f"Settings.{setting}: no reader for {kind}")
    if values["log_format"] not in ("text", "json"):
        raise SettingsError(
            f"INGESTD_LOG_FORMAT must be text or json, not {values['log_format']!r}"
        )
    try:
        values["tokens"] = parse_tokens(_secret(env, "INGESTD_TOKENS") or "")
    except ValueError as exc:
        raise SettingsError(f"INGESTD_TOKENS: {exc}") from None
    values["database_url"] = _secret(env, "INGESTD_DATABASE_URL") or None
    data_dir = env.get("INGESTD_DATA_DIR")
    values["data_dir"] = Path(data_dir) if data_dir else None
    allow_private = values["webhook_allow_private"]
    values["alert_webhooks"] = _targets(env, "INGESTD_ALERT_WEBHOOKS", allow_private)
    values["alert_apprise_urls"] = _apprise(env, "INGESTD_ALERT_APPRISE_URLS", allow_private)
    return Settings(**values)


def _targets(env: Mapping[str, str], name: str, allow_private: bool) -> tuple[Target, ...]:
    try:
        return parse_targets_text(_secret(env, name) or "", allow_private=allow_private)
    except TargetError as exc:
        raise SettingsError(f"{name}: {exc}") from None


def _apprise(env: Mapping[str, str], name: str, allow_private: bool) -> tuple[Target, ...]:
    try:
        urls = parse_urls_text(_secret(env, name) or "", allow_private=allow_private)
    except AppriseError as exc:
        raise SettingsError(f"{name}: {exc}") from None
    return tuple(Target(url, APPRISE) for url in urls)


SETTINGS = web.AppKey("settings", Settings)
