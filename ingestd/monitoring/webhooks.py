"""Webhook targets and what is sent to them.

A target is a URL and a format: `json` sends the alert as a JSON object (its `text` field
is Slack-compatible, so most chat webhooks take it as it is); `slack` sends `{"text"}` only.
"""

from __future__ import annotations

from typing import Any, NamedTuple
from urllib.parse import urlsplit

FORMATS = ("json", "slack")
MAX_URL_CHARS = 2000


class Target(NamedTuple):
    url: str
    format: str = "json"


class TargetError(ValueError):
    """A webhook target cannot be used; the message says why."""


def check_url(url: object) -> str:
    if not isinstance(url, str) or not url or len(url) > MAX_URL_CHARS:
        raise TargetError(f"a webhook URL must be a non-empty string, not {url!r}")
    if any(ord(c) < 0x20 or c == "\x7f" for c in url):
        # NUL cannot be stored in jsonb, and no HTTP client sends a control character.
        raise TargetError(f"a webhook URL must not contain control characters, not {url!r}")
    try:
        parts = urlsplit(url)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError as exc:  # 'https://[::1': a bracketed host that is no IP address
        raise TargetError(f"a webhook URL must be a valid URL, not {url!r}: {exc}") from None
    if not usable:
        raise TargetError(f"a webhook URL must be http:// or https://, not {url!r}")
    return url


def parse_target(value: object) -> Target:
    """A URL, or {"url": ..., "format": "json"|"slack"}."""
    if isinstance(value, str):
        return Target(check_url(value))
    if isinstance(value, dict):
        unknown = set(value) - {"url", "format"}
        if unknown:
            raise TargetError(f"unknown webhook field(s): {', '.join(sorted(unknown))}")
        fmt = value.get("format", "json")
        if fmt not in FORMATS:
            raise TargetError(f"webhook format must be json or slack, not {fmt!r}")
        return Target(check_url(value.get("url")), fmt)
    raise TargetError(f"a webhook is a URL or an object with url and format, not {value!r}")


def stored_target(value: str | dict[str, str]) -> Target:
    """A target as job settings store it (view()), read without checking it again: a rule
    tightened since it was stored must not make the job's settings unreadable."""
    if isinstance(value, str):
        return Target(value)
    return Target(value["url"], value.get("format", "json"))


def parse_targets_text(text: str) -> tuple[Target, ...]:
    """Whitespace-separated URLs; `slack:` before one sends the Slack format to it."""
    targets = []
    for entry in text.split():
        fmt, sep, rest = entry.partition(":")
        if sep and fmt in FORMATS and not rest.startswith("//"):
            targets.append(Target(check_url(rest), fmt))
        else:
            targets.append(Target(check_url(entry)))
    return tuple(targets)


def view(target: Target) -> str | dict[str, str]:
    return target.url if target.format == "json" else {"url": target.url, "format": target.format}


def body(target_format: str, alert: dict[str, Any]) -> dict[str, Any]:
    """What one target receives for one alert."""
    if target_format == "slack":
        return {"text": alert["text"]}
    return alert
