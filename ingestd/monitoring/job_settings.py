"""A job's settings: schedule, grace, timeouts, alert rules and targets, anomaly band.

A job without stored settings gets the defaults: no schedule (so never late or missed),
no timeouts, every alert rule on, sent to the global webhooks and Apprise URLs, anomaly
detection on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

import asyncpg
import orjson

from ingestd.monitoring import apprise_targets
from ingestd.monitoring.apprise_targets import AppriseError
from ingestd.monitoring.schedules import Schedule, ScheduleError, format_duration, parse_duration
from ingestd.monitoring.webhooks import Target, TargetError, parse_target, stored_target, view

RULES = (
    "failed", "timed_out", "missed", "failures_in_a_row", "recovered", "anomaly", "stuck"
)  # fmt: skip
#: The rules a stored list chose among when it does not say (rules_known): saved before
#: `stuck` existed.
_RULES_BEFORE_STUCK = RULES[:6]
DEFAULT_GRACE = timedelta(minutes=5)
MAX_WEBHOOKS = 10
MAX_COUNTER_CHARS = 200
T = TypeVar("T")

_FIELDS = frozenset(
    {"every", "cron", "timezone", "grace", "max_duration", "heartbeat_timeout", "alerts",
     "anomaly"}
)  # fmt: skip
_ALERT_FIELDS = frozenset({"webhooks", "apprise", "global_webhooks", "rules", "failures_in_a_row"})
_ANOMALY_FIELDS = frozenset({"enabled", "counters", "history", "min_history", "k"})


class SettingsInvalid(ValueError):
    """The settings document is wrong; the message says which field and why."""


@dataclass(frozen=True, slots=True)
class AnomalySettings:
    enabled: bool = True
    #: Counters judged besides the duration; None: every counter with enough history.
    counters: tuple[str, ...] | None = None
    #: Recent successful runs that make the band, and how many are needed to judge at all.
    history: int = 20
    min_history: int = 10
    #: Band half-width in robust standard deviations (1.4826 MAD) of log values.
    k: float = 4.0


@dataclass(frozen=True, slots=True)
class JobSettings:
    job: str
    schedule: Schedule | None = None
    grace: timedelta = DEFAULT_GRACE
    max_duration: timedelta | None = None
    heartbeat_timeout: timedelta | None = None
    webhooks: tuple[Target, ...] = ()
    #: Apprise URLs (format "apprise"); global_webhooks also covers the global ones.
    apprise: tuple[Target, ...] = ()
    global_webhooks: bool = True
    rules: frozenset[str] = frozenset(RULES)
    failures_in_a_row: int = 3
    anomaly: AnomalySettings = field(default_factory=AnomalySettings)

    def alerts_doc(self, *, redact: bool = False) -> dict[str, Any]:
        return {
            "webhooks": [view(t, redact=redact) for t in self.webhooks],
            "apprise": [apprise_targets.redacted(t.url) if redact else t.url for t in self.apprise],
            "global_webhooks": self.global_webhooks,
            "rules": [r for r in RULES if r in self.rules],
            "failures_in_a_row": self.failures_in_a_row,
        }

    def anomaly_doc(self) -> dict[str, Any]:
        a = self.anomaly
        counters = None if a.counters is None else list(a.counters)
        return {"enabled": a.enabled, "counters": counters, "history": a.history,
                "min_history": a.min_history, "k": a.k}  # fmt: skip

    def view(self, *, redact: bool = False) -> dict[str, Any]:
        """The settings as answered; `redact` hides the webhooks' secrets (read-only tokens)."""
        schedule = self.schedule.describe() if self.schedule is not None else {}
        return {
            "job": self.job,
            "every": schedule.get("every"),
            "cron": schedule.get("cron"),
            "timezone": schedule.get("timezone"),
            "grace": format_duration(self.grace),
            "max_duration": _duration_or_none(self.max_duration),
            "heartbeat_timeout": _duration_or_none(self.heartbeat_timeout),
            "alerts": self.alerts_doc(redact=redact),
            "anomaly": self.anomaly_doc(),
        }


def _duration_or_none(value: timedelta | None) -> str | None:
    return None if value is None else format_duration(value)


def _object(value: Any, name: str, allowed: frozenset[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SettingsInvalid(f"{name} must be an object")
    unknown = set(value) - allowed
    if unknown:
        raise SettingsInvalid(
            f"unknown field(s) in {name}: {', '.join(sorted(unknown)[:5])}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )
    return value


def _int(value: Any, name: str, low: int, high: int, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SettingsInvalid(f"{name} must be a whole number from {low} to {high}")
    return value


def _optional_duration(value: Any, name: str) -> timedelta | None:
    return None if value is None else parse_duration(value, name)


def parse(job: str, document: Any, *, allow_private: bool = False) -> JobSettings:
    """A PUT body into settings; fields left out take their defaults. Webhooks to private
    addresses are refused unless `allow_private`."""
    body = _object(document, "the body", _FIELDS)
    try:
        schedule = Schedule.of(body.get("every"), body.get("cron"), body.get("timezone"))
        grace = body.get("grace")
        settings_grace = DEFAULT_GRACE if grace is None else parse_duration(grace, "grace")
        max_duration = _optional_duration(body.get("max_duration"), "max_duration")
        heartbeat = _optional_duration(body.get("heartbeat_timeout"), "heartbeat_timeout")
        alerts = _object(body.get("alerts"), "alerts", _ALERT_FIELDS)
        webhooks = alerts.get("webhooks") or []
        if not isinstance(webhooks, list) or len(webhooks) > MAX_WEBHOOKS:
            raise SettingsInvalid(f"alerts.webhooks must be a list of at most {MAX_WEBHOOKS}")
        targets = tuple(
            dict.fromkeys(parse_target(w, allow_private=allow_private) for w in webhooks)
        )
        apprise = alerts.get("apprise") or []
        if not isinstance(apprise, list) or len(apprise) > MAX_WEBHOOKS:
            raise SettingsInvalid(f"alerts.apprise must be a list of at most {MAX_WEBHOOKS} URLs")
        apprise_urls = tuple(
            dict.fromkeys(
                apprise_targets.check_url(u, allow_private=allow_private) for u in apprise
            )
        )
    except (ScheduleError, TargetError, AppriseError) as exc:
        raise SettingsInvalid(str(exc)) from None
    global_webhooks, rules, failures_in_a_row = _alert_options(alerts)
    return JobSettings(
        job=job,
        schedule=schedule,
        grace=settings_grace,
        max_duration=max_duration,
        heartbeat_timeout=heartbeat,
        webhooks=targets,
        apprise=tuple(Target(u, apprise_targets.FORMAT) for u in apprise_urls),
        global_webhooks=global_webhooks,
        rules=rules,
        failures_in_a_row=failures_in_a_row,
        anomaly=_anomaly(_object(body.get("anomaly"), "anomaly", _ANOMALY_FIELDS)),
    )


def _alert_options(alerts: dict[str, Any]) -> tuple[bool, frozenset[str], int]:
    """global_webhooks, rules and failures_in_a_row, checked."""
    global_webhooks = alerts.get("global_webhooks", True)
    if not isinstance(global_webhooks, bool):
        raise SettingsInvalid("alerts.global_webhooks must be true or false")
    rules = alerts.get("rules", list(RULES))
    # Each item is checked to be a name before set(): a list in the list is unhashable.
    if not isinstance(rules, list) or not all(isinstance(r, str) and r in RULES for r in rules):
        raise SettingsInvalid(f"alerts.rules must be a list of: {', '.join(RULES)}")
    failures = _int(alerts.get("failures_in_a_row"), "failures_in_a_row", 2, 1000, 3)
    return global_webhooks, frozenset(rules), failures


def _anomaly(doc: dict[str, Any]) -> AnomalySettings:
    enabled = doc.get("enabled", True)
    if not isinstance(enabled, bool):
        raise SettingsInvalid("anomaly.enabled must be true or false")
    counters = doc.get("counters")
    if counters is not None and (
        not isinstance(counters, list)
        or not all(isinstance(c, str) and 0 < len(c) <= MAX_COUNTER_CHARS for c in counters)
    ):
        raise SettingsInvalid(
            f"anomaly.counters must be a list of counter names of 1-{MAX_COUNTER_CHARS} "
            "characters, or null"
        )
    if counters is not None and any("\x00" in c for c in counters):
        # The settings are stored as jsonb, which cannot hold U+0000.
        raise SettingsInvalid("anomaly.counters: a counter name must not contain NUL characters")
    history = _int(doc.get("history"), "anomaly.history", 3, 1000, 20)
    min_history = _int(doc.get("min_history"), "anomaly.min_history", 3, history, min(10, history))
    k = doc.get("k", 4.0)
    if isinstance(k, bool) or not isinstance(k, int | float) or not 1 <= k <= 100:
        raise SettingsInvalid("anomaly.k must be a number from 1 to 100")
    return AnomalySettings(
        enabled=enabled,
        counters=None if counters is None else tuple(dict.fromkeys(counters)),
        history=history,
        min_history=min_history,
        k=float(k),
    )


def from_row(row: asyncpg.Record) -> JobSettings:
    """Settings as stored in the jobs table (validated when they were stored)."""
    schedule = None
    if row["every"] is not None:
        schedule = Schedule(every=row["every"])
    elif row["cron"] is not None:
        schedule = Schedule(cron=row["cron"], timezone=row["timezone"] or "UTC")
    alerts = orjson.loads(row["alerts"])
    anomaly = orjson.loads(row["anomaly"])
    counters = anomaly.get("counters")
    return JobSettings(
        job=row["job"],
        schedule=schedule,
        grace=row["grace"],
        max_duration=row["max_duration"],
        heartbeat_timeout=row["heartbeat_timeout"],
        webhooks=tuple(stored_target(w) for w in alerts.get("webhooks", [])),
        apprise=tuple(Target(u, apprise_targets.FORMAT) for u in alerts.get("apprise", [])),
        global_webhooks=alerts.get("global_webhooks", True),
        rules=stored_rules(alerts.get("rules", RULES), alerts.get("rules_known")),
        failures_in_a_row=alerts.get("failures_in_a_row", 3),
        anomaly=AnomalySettings(
            enabled=anomaly.get("enabled", True),
            counters=None if counters is None else tuple(counters),
            history=anomaly.get("history", 20),
            min_history=anomaly.get("min_history", 10),
            k=float(anomaly.get("k", 4.0)),
        ),
    )


#: What reading a stored part may raise when the row was not written by `row_values`
#: (by hand, or by another version): SettingsInvalid and the JSON errors are ValueErrors.
_UNREADABLE = (ValueError, TypeError, KeyError, AttributeError)


def read_stored(row: asyncpg.Record) -> tuple[JobSettings, list[str]]:
    """Settings as stored, each part checked again as a PUT body is: a part that cannot be
    read takes its defaults, and the warnings (one per such part) say which and why."""
    defaults = JobSettings(row["job"])
    warnings: list[str] = []

    def schedule() -> Schedule | None:
        if row["every"] is not None:
            if row["cron"] is not None or row["every"] < timedelta(seconds=1):
                raise SettingsInvalid("every must be at least 1s, and not given with cron")
            return Schedule(every=row["every"])
        return Schedule.of(None, row["cron"], row["timezone"] if row["cron"] else None)

    def alerts() -> JobSettings:
        doc = orjson.loads(row["alerts"])
        known = doc.pop("rules_known", None) if isinstance(doc, dict) else None
        if known is not None and not (
            isinstance(known, list) and all(isinstance(r, str) for r in known)
        ):
            raise SettingsInvalid("alerts.rules_known must be a list of rule names")
        doc = _object(doc, "alerts", _ALERT_FIELDS)
        webhooks = doc.get("webhooks") or []
        apprise = doc.get("apprise") or []
        if not isinstance(webhooks, list) or not isinstance(apprise, list):
            raise SettingsInvalid("alerts.webhooks and alerts.apprise must be lists")
        if not all(isinstance(url, str) for url in apprise):
            raise SettingsInvalid("alerts.apprise must be a list of URLs")
        global_webhooks, rules, failures = _alert_options(doc)
        return JobSettings(
            row["job"],
            webhooks=tuple(stored_target(w) for w in webhooks),
            apprise=tuple(Target(url, apprise_targets.FORMAT) for url in apprise),
            global_webhooks=global_webhooks,
            rules=stored_rules(rules, known),
            failures_in_a_row=failures,
        )

    def anomaly() -> AnomalySettings:
        return _anomaly(_object(orjson.loads(row["anomaly"]), "anomaly", _ANOMALY_FIELDS))

    def part(name: str, read: Callable[[], T], default: T) -> T:
        try:
            return read()
        except _UNREADABLE as exc:
            warnings.append(f"the stored {name} settings cannot be read ({exc}): defaults used")
            return default

    read_alerts = part("alerts", alerts, defaults)
    settings = JobSettings(
        job=row["job"],
        schedule=part("schedule", schedule, None),
        grace=row["grace"],
        max_duration=row["max_duration"],
        heartbeat_timeout=row["heartbeat_timeout"],
        webhooks=read_alerts.webhooks,
        apprise=read_alerts.apprise,
        global_webhooks=read_alerts.global_webhooks,
        rules=read_alerts.rules,
        failures_in_a_row=read_alerts.failures_in_a_row,
        anomaly=part("anomaly", anomaly, defaults.anomaly),
    )
    return settings, warnings


def row_values(settings: JobSettings) -> tuple[Any, ...]:
    """The jobs table's setting columns, in the order of monitoring/sql.py PUT_JOB."""
    schedule = settings.schedule
    return (
        settings.job,
        schedule.every if schedule is not None else None,
        schedule.cron if schedule is not None else None,
        schedule.timezone if schedule is not None and schedule.cron is not None else None,
        settings.grace,
        settings.max_duration,
        settings.heartbeat_timeout,
        # Stamped with the rules there are now: a rule added later is on for this job.
        orjson.dumps({**settings.alerts_doc(), "rules_known": list(RULES)}).decode(),
        orjson.dumps(settings.anomaly_doc()).decode(),
    )


def stored_rules(rules: Iterable[str], known: Iterable[str] | None) -> frozenset[str]:
    """A stored list of rules, plus every rule added to ingestd since it was saved: its user
    chose among the rules they knew (`known`), and a new one (as `stuck` was) is on, as for a
    job without settings, until the list is saved again without it."""
    unknown = frozenset(RULES) - frozenset(_RULES_BEFORE_STUCK if known is None else known)
    return frozenset(rules) | unknown
