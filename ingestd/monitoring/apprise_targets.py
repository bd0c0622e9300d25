"""Apprise targets: alerts sent to people through Apprise URLs (mailto://, tgram://, msteams://,
discord://, pagerduty://, ntfy:// ... https://github.com/caronc/apprise/wiki).

An Apprise URL is checked when it is saved: Apprise must know its scheme and read it, and
when the service is one whose host the URL names (json://, ntfy://host, mailto:// ...), that
host must not be a private, loopback or link-local address, as for webhooks. When it is
sent, every HTTP connection Apprise makes (through requests/urllib3) is checked after DNS,
as webhook_guard.py does for webhooks. Not covered: services that connect without urllib3
(email's SMTP, XMPP, MQTT ...) are checked only by the host written in their URL.

Apprise's notify() blocks: it runs in a small thread pool of its own, bounded in time.
Apprise URLs carry their tokens, so Apprise's own log (which may quote them) is kept out of
ingestd's log; a failed attempt's reason is what Apprise warned about while sending it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import apprise
import urllib3.util.connection

from ingestd.monitoring.webhook_guard import ALLOW_SETTING, host_refusal, refusal

FORMAT = "apprise"
MAX_URL_CHARS = 2000
ERROR_CHARS = 300
#: Threads that may block in Apprise at once; a hung service holds one until its timeout.
THREADS = 4

_local = threading.local()
_connect = urllib3.util.connection.create_connection


class AppriseError(ValueError):
    """An Apprise URL cannot be used; the message says why (without the URL's secrets)."""


def _guarded_connect(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
    """urllib3's create_connection, checking each address after DNS in a guarded thread; the
    address checked is the one dialled (TLS still verifies the name the URL gave)."""
    if not getattr(_local, "guarded", False):
        return _connect(address, *args, **kwargs)
    host, port = address
    why = "no address"
    for info in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
        ip = str(info[4][0])
        why = refusal(ipaddress.ip_address(ip.partition("%")[0])) or ""
        if not why:
            return _connect((ip, port), *args, **kwargs)
    refused = f"refused to connect to {host}: {why} (see {ALLOW_SETTING})"
    _local.reasons.append(refused)  # Apprise says only "a connection error"
    raise PermissionError(refused)


# urllib3 looks create_connection up on its module at each connection, so this is the one
# place every HTTP request Apprise makes passes through; outside our threads it is a no-op.
urllib3.util.connection.create_connection = _guarded_connect


class _Reasons(logging.Handler):
    """Collects what Apprise warns about in the thread that is sending, as a failure's reason."""

    def emit(self, record: logging.LogRecord) -> None:
        reasons: list[str] | None = getattr(_local, "reasons", None)
        if reasons is not None:
            reasons.append(record.getMessage())


_apprise_log = logging.getLogger("apprise")
_apprise_log.addHandler(_Reasons(logging.WARNING))
_apprise_log.propagate = False  # its messages may quote a URL with its token


def scheme(url: str) -> str:
    return url.partition("://")[0].lower() if "://" in url else ""


def _plugin(url: str) -> Any:
    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if not plugin:
        raise AppriseError(
            f"{scheme(url) or 'this'}:// is not an Apprise URL that Apprise can read "
            "(unknown service, or a part missing)"
        )
    return plugin


def dialled_hosts(plugin: Any) -> list[str]:
    """The hosts a service connects to when its URL names them (email: its SMTP server too);
    none for a service at a fixed address (Telegram, Discord ...: its URL's host part is a
    token, not somewhere to go)."""
    if getattr(plugin, "notify_url", None):
        return []
    hosts = (getattr(plugin, "host", None), getattr(plugin, "smtp_host", None))
    return [h for h in hosts if isinstance(h, str) and h]


def check_url(url: object, *, allow_private: bool = False) -> str:
    if not isinstance(url, str) or not url or len(url) > MAX_URL_CHARS:
        raise AppriseError(f"an Apprise URL must be a string of 1-{MAX_URL_CHARS} characters")
    if any(ord(c) < 0x20 or c == "\x7f" for c in url):
        raise AppriseError("an Apprise URL must not contain control characters")
    hosts = dialled_hosts(_plugin(url))
    for host in () if allow_private else hosts:
        why = host_refusal(host)
        if why is not None:
            raise AppriseError(
                f"an Apprise URL may not go to {host}: {why}; set {ALLOW_SETTING}=1 to allow "
                "private targets"
            )
    return url


def parse_urls_text(text: str, *, allow_private: bool = False) -> tuple[str, ...]:
    """Whitespace-separated Apprise URLs, each checked."""
    return tuple(dict.fromkeys(check_url(u, allow_private=allow_private) for u in text.split()))


def redacted(url: str) -> str:
    """Which service an Apprise URL reaches, without its tokens (they are all over it)."""
    where = scheme(url) or urlsplit(url).scheme
    return f"{where}://[redacted]"


def notify_type(rule: str) -> str:
    """Apprise's kind of message for a rule; a rule not named here (a new one) is a failure."""
    return {"recovered": "success", "anomaly": "warning"}.get(rule, "failure")


def title(alert: dict[str, Any]) -> str:
    job = alert.get("job")
    return f"[ingestd] {alert['rule']}" + (f": {job}" if job else "")


def send_blocking(
    url: str, alert: dict[str, Any], *, timeout_s: float, allow_private: bool
) -> str | None:
    """Send one alert to one Apprise URL (blocks); None when it went, else why not."""
    _local.guarded = not allow_private
    reasons: list[str] = []
    _local.reasons = reasons
    try:
        plugin = _plugin(url)
        plugin.socket_connect_timeout = plugin.socket_read_timeout = timeout_s
        ok = plugin.notify(
            body=alert["text"], title=title(alert), notify_type=notify_type(alert["rule"])
        )
    except Exception as exc:  # a plugin's bug must not stop the dispatcher
        return f"{type(exc).__name__}: {exc}"[:ERROR_CHARS]
    finally:
        _local.guarded = False
        _local.reasons = None
    if ok:
        return None
    why = "; ".join(dict.fromkeys(reasons)) or "Apprise could not send it"
    return f"Apprise: {why}"[:ERROR_CHARS]


class Sender:
    """Runs Apprise's blocking sends in threads of its own, each bounded in time."""

    def __init__(self, *, timeout_s: float, allow_private: bool) -> None:
        self.timeout_s = timeout_s
        self.allow_private = allow_private
        self._pool = ThreadPoolExecutor(THREADS, thread_name_prefix="ingestd-apprise")

    async def send(self, url: str, alert: dict[str, Any]) -> str | None:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(
            self._pool,
            lambda: send_blocking(
                url, alert, timeout_s=self.timeout_s, allow_private=self.allow_private
            ),
        )
        # A connect and a read may each take timeout_s; past both, give up waiting (the
        # thread ends when Apprise's own socket timeouts end it).
        try:
            return await asyncio.wait_for(future, 2 * self.timeout_s + 1)
        except TimeoutError:
            return f"TimeoutError: no answer within {2 * self.timeout_s + 1:g}s"

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
