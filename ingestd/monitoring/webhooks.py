"""Webhook targets and what is sent to them.

A target is a URL and a format: `json` sends the alert as a JSON object (its `text` field
is Slack-compatible, so most chat webhooks take it as it is); `slack` sends `{"text"}` only.

A URL whose host is a private, loopback or link-local address is refused unless private
targets are allowed (webhook_guard.py checks the address again when it connects). Webhook
URLs often carry their secret (user:password@, a token in the path or query): `redacted`
keeps only where they go, for those who may read but not change the settings.
"""

from __future__ import annotations

from typing import Any, NamedTuple
from urllib.parse import urlsplit

from ingestd.monitoring.webhook_guard import ALLOW_SETTING, host_refusal

FORMATS = ("json", "slack")
MAX_URL_CHARS = 2000


class Target(NamedTuple):
    url: str
    format: str = "json"


class TargetError(ValueError):
    """A webhook target cannot be used; the message says why."""


def check_url(url: object, *, allow_private: bool = False) -> str:
    if not isinstance(url, str) or not url or len(url) > MAX_URL_CHARS:
        raise TargetError(f"a webhook URL must be a non-empty string, not {url!r}")
    if any(ord(c) < 0x20 or c == "\x7f" for c in url):
        # NUL cannot be stored in jsonb, and no HTTP client sends a control character.
        raise TargetError(f"a webhook URL must not contain control characters, not {url!r}")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:  # 'https://[::1': a bracketed host that is no IP address
        raise TargetError(f"a webhook URL must be a valid URL, not {url!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise TargetError(f"a webhook URL must be http:// or https://, not {url!r}")
    why = None if allow_private else host_refusal(host)
    if why is not None:
        raise TargetError(
            f"a webhook may not go to {host}: {why}; set {ALLOW_SETTING}=1 to allow "
            "private targets (an on-premises chat server)"
        )
    return url


def parse_target(value: object, *, allow_private: bool = False) -> Target:
    """A URL, or {"url": ..., "format": "json"|"slack"}."""
    if isinstance(value, str):
        return Target(check_url(value, allow_private=allow_private))
    if isinstance(value, dict):
        unknown = set(value) - {"url", "format"}
        if unknown:
            raise TargetError(f"unknown webhook field(s): {', '.join(sorted(unknown))}")
        fmt = value.get("format", "json")
        if fmt not in FORMATS:
            raise TargetError(f"webhook format must be json or slack, not {fmt!r}")
        return Target(check_url(value.get("url"), allow_private=allow_private), fmt)
    raise TargetError(f"a webhook is a URL or an object with url and format, not {value!r}")


def stored_target(value: str | dict[str, str]) -> Target:
    """A target as job settings store it (view()), read without checking it again: a rule
    tightened since it was stored must not make the job's settings unreadable (a private
    target stored before they were refused still loads; its delivery refuses to connect)."""
    if isinstance(value, str):
        return Target(value)
    return Target(value["url"], value.get("format", "json"))


def parse_targets_text(text: str, *, allow_private: bool = False) -> tuple[Target, ...]:
    """Whitespace-separated URLs; `slack:` before one sends the Slack format to it."""
    targets = []
    for entry in text.split():
        fmt, sep, rest = entry.partition(":")
        if sep and fmt in FORMATS and not rest.startswith("//"):
            targets.append(Target(check_url(rest, allow_private=allow_private), fmt))
        else:
            targets.append(Target(check_url(entry, allow_private=allow_private)))
    return tuple(targets)


def redacted(url: str) -> str:
    """Where a webhook goes, without what may be its secret: credentials, path, query."""
    parts = urlsplit(url)
    where = parts.netloc.rpartition("@")[2]
    secret = parts.username is not None or parts.path not in ("", "/") or parts.query
    return f"{parts.scheme}://{where}/" + ("[redacted]" if secret or parts.fragment else "")


def redacted_error(error: str | None) -> str | None:
    """A delivery's error without the receiver's answer or anything from its URL."""
    return None if error is None else error.partition(":")[0]


def view(target: Target, *, redact: bool = False) -> str | dict[str, str]:
    url = redacted(target.url) if redact else target.url
    return url if target.format == "json" else {"url": url, "format": target.format}


def body(target_format: str, alert: dict[str, Any]) -> dict[str, Any]:
    """What one target receives for one alert."""
    if target_format == "slack":
        return {"text": alert["text"]}
    return alert
