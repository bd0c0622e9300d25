"""Query parameters of the read API: parsed, checked, and named in every 400.

A parameter the endpoint does not know is an error too: a typo (`stauts=failed`) must not
quietly answer with everything.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiohttp import web
from multidict import MultiMapping

from ingestd.http.problems import bad_param
from ingestd.ingest.events import MAX_TS, MIN_TS, EventError, parse_time, parse_uuid
from ingestd.ingest.vocab import LEVEL_ALIASES, LEVELS, MAX_LEVELNO, MIN_LEVELNO, STATUS_ALIASES

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
MAX_DAYS = 3660
#: GET /v1/jobs?recent=N: at most this many newest runs per job.
MAX_RECENT_RUNS = 100
#: GET /v1/stats/errors/runs lists at most this many runs (default 10).
MAX_ERROR_RUNS = 100
MAX_TEXT = 200
MAX_QUERY_TEXT = 200
ATTR_PREFIX = "attr."
MAX_ID = 2**63 - 1

_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)(s|m|h|d|w)\Z")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# A '+' in an unencoded query string arrives as a space: '...T10:00:00 02:00'.
_SPACE_ZONE = re.compile(r"(\d) (\d{2}:?\d{2})\Z")
_LEVEL_BOUNDS = sorted(LEVELS.values())


class Params:
    """One request's query string; every parameter read must be one the endpoint allows."""

    def __init__(
        self, query: MultiMapping[str], allowed: Iterable[str], *, attrs: bool = False
    ) -> None:
        self.query = query
        allowed_set = frozenset(allowed)
        seen: set[str] = set()
        for name, _ in query.items():  # (iterating a MultiDict gives each key once)
            if name in seen:
                raise bad_param(name, "give this parameter once")
            seen.add(name)
            if name in allowed_set or (attrs and name.startswith(ATTR_PREFIX)):
                continue
            known = ", ".join(sorted(allowed_set | ({"attr.<key>"} if attrs else set())))
            raise bad_param(name, f"unknown parameter; this endpoint takes {known}")

    @classmethod
    def of(cls, request: web.Request, allowed: Iterable[str], *, attrs: bool = False) -> Params:
        return cls(request.query, allowed, attrs=attrs)

    def text(self, name: str, max_chars: int = MAX_TEXT) -> str | None:
        raw = self.query.get(name)
        if raw is None:
            return None
        if not raw:
            raise bad_param(name, "must not be empty")
        if len(raw) > max_chars:
            raise bad_param(name, f"must be at most {max_chars} characters")
        if "\x00" in raw:
            raise bad_param(name, "must not contain NUL characters")
        return raw

    def texts(self, name: str) -> list[str] | None:
        """A comma-separated list of names."""
        raw = self.text(name, 20 * MAX_TEXT)
        if raw is None:
            return None
        values = [v.strip() for v in raw.split(",")]
        if not all(values):
            raise bad_param(name, "has an empty item in its comma list")
        if any(len(v) > MAX_TEXT for v in values):
            raise bad_param(name, f"items must be at most {MAX_TEXT} characters")
        return values

    def uuid(self, name: str) -> str | None:
        raw = self.query.get(name)
        return None if raw is None else uuid_value(name, raw)

    def time(self, name: str, now: datetime) -> datetime | None:
        raw = self.query.get(name)
        return None if raw is None else time_value(name, raw, now)

    def time_range(self, now: datetime) -> tuple[datetime | None, datetime | None]:
        since, until = self.time("since", now), self.time("until", now)
        if since is not None and until is not None and since >= until:
            raise bad_param("until", "must be later than since")
        return since, until

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.query.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise bad_param(name, f"must be a whole number, not {_show(raw)}") from None
        if not low <= value <= high:
            raise bad_param(name, f"must be from {low} to {high}, not {value}")
        return value

    def limit(self) -> int:
        return self.integer("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)

    def days(self, default: int = 7) -> int:
        return self.integer("days", default, 1, MAX_DAYS)

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        raw = self.query.get(name, default)
        if raw not in choices:
            raise bad_param(name, f"must be one of {', '.join(choices)}, not {_show(raw)}")
        return raw

    def statuses(self, name: str = "status") -> list[str] | None:
        values = self.texts(name)
        if values is None:
            return None
        statuses = []
        for value in values:
            status = STATUS_ALIASES.get(value.lower())
            if status is None:
                raise bad_param(
                    name,
                    f"{_show(value)} is unknown; use pending, running, success, warning, "
                    "failed, cancelled or timed_out",
                )
            statuses.append(status)
        return sorted(set(statuses))

    def levels(self, name: str = "level") -> list[int] | None:
        """Every level number the listed levels stand for: a name covers its whole band
        (`error` is 40-49), a number only itself."""
        values = self.texts(name)
        if values is None:
            return None
        numbers: set[int] = set()
        for value in values:
            low = level_value(name, value)
            if value.isascii() and value.isdigit():
                numbers.add(low)
            else:
                higher = [b for b in _LEVEL_BOUNDS if b > low]
                high = higher[0] if higher else MAX_LEVELNO + 1
                numbers.update(range(MIN_LEVELNO if low == _LEVEL_BOUNDS[0] else low, high))
        return sorted(numbers)

    def min_level(self, name: str = "min_level") -> int | None:
        raw = self.query.get(name)
        return None if raw is None else level_value(name, raw)

    def search(self, name: str = "q") -> str | None:
        """Text to find in messages, whatever its case (read/sql.py LOG_SEARCH)."""
        raw = self.text(name, MAX_QUERY_TEXT)
        if raw is None:
            return None
        if not raw.strip():
            raise bad_param(name, "must contain something besides spaces")
        return raw

    def attr_filters(self) -> list[AttrFilter]:
        """`attr.<key>=<value>` filters."""
        filters = []
        for name, raw in self.query.items():
            if not name.startswith(ATTR_PREFIX):
                continue
            key = name[len(ATTR_PREFIX) :]
            if not key:
                raise bad_param(name, "name the attribute: attr.<key>=<value>")
            if len(key) > MAX_TEXT or len(raw) > 20 * MAX_TEXT:
                raise bad_param(name, "the key or the value is too long")
            if "\x00" in key or "\x00" in raw:
                raise bad_param(name, "must not contain NUL characters")
            typed = _json_scalar(raw)
            filters.append(AttrFilter(key, (raw,) if typed is None else (raw, typed[0])))
        return filters

    def cursor(self, kind: str, size: int) -> list[Any] | None:
        raw = self.query.get("cursor")
        return None if raw is None else decode_cursor(raw, kind, size)


@dataclass(frozen=True, slots=True)
class AttrFilter:
    """attr.<key>=<value>: the value as a string, and as the JSON number/boolean/null it
    spells if it does (attrs hold `"profile_id": 7` as often as `"profile_id": "7"`)."""

    key: str
    values: tuple[Any, ...]

    def documents(self) -> list[str]:
        """As jsonb documents for `attrs @> ...`, one per accepted value."""
        return [orjson.dumps({self.key: value}).decode() for value in self.values]


def _json_scalar(raw: str) -> tuple[Any] | None:
    if raw in ("true", "false", "null"):
        return (orjson.loads(raw),)
    if re.fullmatch(r"-?\d{1,18}", raw):
        return (int(raw),)
    if re.fullmatch(r"-?\d+\.\d+(?:[eE][-+]?\d+)?", raw) and len(raw) <= 40:
        return (float(raw),)
    return None


def uuid_value(name: str, raw: str) -> str:
    try:
        return parse_uuid(raw, name)
    except EventError:
        raise bad_param(name, f"must be a UUID, not {_show(raw)}") from None


def time_value(name: str, raw: str, now: datetime) -> datetime:
    """RFC 3339, epoch seconds, or a duration back from now: `90s`, `15m`, `24h`, `7d`, `2w`."""
    text = raw.strip()
    relative = _RELATIVE.match(text)
    if relative:
        seconds = float(relative.group(1)) * _UNITS[relative.group(2)]
        if seconds > MAX_DAYS * 86400:
            raise bad_param(name, f"goes back more than {MAX_DAYS} days")
        return now - timedelta(seconds=seconds)
    value: Any = _SPACE_ZONE.sub(r"\1+\2", text)
    with contextlib.suppress(ValueError):
        value = float(text)
    try:
        return parse_time(value, name)
    except EventError:
        raise bad_param(
            name,
            f"must be RFC 3339 time, epoch seconds or a duration such as 24h, not {_show(raw)}",
        ) from None


def level_value(name: str, raw: str) -> int:
    text = raw.strip().lower()
    # isascii(): str.isdigit() also takes '²', which int() refuses.
    if text.isascii() and text.isdigit() and MIN_LEVELNO <= int(text) <= MAX_LEVELNO:
        return int(text)
    levelno = LEVEL_ALIASES.get(text)
    if levelno is None:
        raise bad_param(
            name,
            f"{_show(raw)} is not a level; use trace, debug, info, success, warning, error, "
            "critical or a number from 0 to 100",
        )
    return levelno


# --- cursors ---------------------------------------------------------------------------------
# A cursor is base64url of JSON: [kind, sort key...]. Opaque to clients; checked on the way in.


def encode_cursor(kind: str, key: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([kind, *key])).decode().rstrip("=")


def decode_cursor(raw: str, kind: str, size: int) -> list[Any]:
    try:
        decoded = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError):
        raise bad_param("cursor", "is not a cursor this API gave out") from None
    if (
        not isinstance(decoded, list)
        or len(decoded) != size + 1
        or decoded[0] != kind
        or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in decoded[1:])
    ):
        raise bad_param("cursor", "is not a cursor for this list")
    return list(decoded[1:])


def cursor_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise bad_param("cursor", "is damaged")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise bad_param("cursor", "is damaged") from None
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    # Every stored time is in this range; outside it, date arithmetic overflows (year 1).
    if not MIN_TS <= parsed <= MAX_TS:
        raise bad_param("cursor", "is damaged: its time is outside 1970-9999")
    return parsed


def cursor_uuid(value: Any) -> str:
    if not isinstance(value, str):
        raise bad_param("cursor", "is damaged")
    return uuid_value("cursor", value)


def cursor_int(value: Any) -> int:
    if not isinstance(value, int):
        raise bad_param("cursor", "is damaged")
    if not 0 <= value <= MAX_ID:  # ids are bigints
        raise bad_param("cursor", "is damaged: its id is out of range")
    return value


def _show(value: str) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
