"""The shapes of job settings and alerts, as msgspec Structs.

/v1/openapi.json's `components.schemas` is generated from these. `job_settings.parse` stays
the parser of a PUT body (it gives the precise reasons); tests/test_openapi_bodies.py checks
that it accepts every field described here and refuses the ones that are not.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from ingestd.ingest.models import Maybe, Stamp, Uuid
from ingestd.monitoring.job_settings import MAX_COUNTER_CHARS, MAX_WEBHOOKS
from ingestd.monitoring.schedules import MAX_CRON_CHARS
from ingestd.monitoring.webhooks import MAX_URL_CHARS
from ingestd.read.models import Health, StuckRun

Rule = Literal[
    "failed", "timed_out", "missed", "failures_in_a_row", "recovered", "anomaly", "stuck"
]
Format = Literal["json", "slack"]
AppriseUrl = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=MAX_URL_CHARS,
        pattern="^[A-Za-z][A-Za-z0-9+.-]*://",
        description="An Apprise URL: mailto://, tgram://, msteams://, discord://, ntfys:// ...",
        examples=["tgram://bottoken/ChatID", "ntfys://my-topic"],
    ),
]
Url = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=MAX_URL_CHARS,
        pattern="^[Hh][Tt][Tt][Pp][Ss]?://",
        extra_json_schema={"format": "uri"},
    ),
]
#: More than 0 and at most a year (schedules.parse_duration).
Duration = (
    Annotated[str, Meta(description="1h30m, 90s, 2d, 1w, 250ms", examples=["90s", "15m", "1h30m"])]
    | Annotated[float, Meta(gt=0, le=366 * 86400, description="seconds")]
)
DurationOut = Annotated[str, Meta(examples=["5m", "1h30m"])]


class Webhook(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    url: Url
    format: Format = "json"


WebhookIn = Url | Webhook


class AlertSettings(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    webhooks: Maybe[
        Annotated[
            list[WebhookIn],
            Meta(max_length=MAX_WEBHOOKS, description="A URL (json format), or {url, format}."),
        ]
    ] = UNSET
    apprise: Maybe[Annotated[list[AppriseUrl], Meta(max_length=MAX_WEBHOOKS)]] = UNSET
    global_webhooks: (
        Annotated[
            bool,
            Meta(description="Also send to INGESTD_ALERT_WEBHOOKS and INGESTD_ALERT_APPRISE_URLS."),
        ]
        | UnsetType
    ) = UNSET
    rules: (
        Annotated[list[Rule], Meta(description="The rules that alert; default: all.")] | UnsetType
    ) = UNSET
    failures_in_a_row: Maybe[Annotated[int, Meta(ge=2, le=1000)]] = UNSET


class AnomalySettings(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    enabled: bool | UnsetType = UNSET
    counters: (
        Annotated[
            list[Annotated[str, Meta(min_length=1, max_length=MAX_COUNTER_CHARS)]] | None,
            Meta(description="Counters judged besides the duration; null: every counter."),
        ]
        | UnsetType
    ) = UNSET
    history: Maybe[Annotated[int, Meta(ge=3, le=1000)]] = UNSET
    min_history: Maybe[Annotated[int, Meta(ge=3, le=1000)]] = UNSET
    k: Annotated[float, Meta(ge=1, le=100, description="Band half-width.")] | UnsetType = UNSET


class JobSettings(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A job's settings: give either every or cron (with an optional timezone), or neither.
    Fields left out take their defaults."""

    every: Maybe[Duration] = UNSET
    cron: Maybe[Annotated[str, Meta(max_length=MAX_CRON_CHARS, examples=["0 3 * * *"])]] = UNSET
    timezone: Maybe[Annotated[str, Meta(examples=["Europe/Berlin"])]] = UNSET
    grace: Maybe[Duration] = UNSET
    max_duration: Maybe[Duration] = UNSET
    heartbeat_timeout: Maybe[Duration] = UNSET
    alerts: Maybe[AlertSettings] = UNSET
    anomaly: Maybe[AnomalySettings] = UNSET


class JobAlerts(msgspec.Struct):
    webhooks: list[Url | Webhook]
    apprise: Annotated[list[str], Meta(description="Redacted (scheme only) for non-admins.")]
    global_webhooks: bool
    rules: list[Rule]
    failures_in_a_row: int


class JobAnomaly(msgspec.Struct):
    enabled: bool
    counters: list[str] | None
    history: int
    min_history: int
    k: float


class Job(msgspec.Struct):
    """A job's settings in canonical form, and its health as GET /v1/jobs judges it."""

    job: str
    every: DurationOut | None
    cron: str | None
    timezone: str | None
    grace: DurationOut
    max_duration: DurationOut | None
    heartbeat_timeout: DurationOut | None
    alerts: JobAlerts
    anomaly: JobAnomaly
    configured: Annotated[bool, Meta(description="false: the defaults, nothing stored.")]
    health: Annotated[Health, Meta(description="As GET /v1/jobs shows it, `stuck` included.")]
    stuck: Annotated[StuckRun | None, Meta(description="The stuck run, when `stuck`.")]
    health_since: Stamp | None
    due_at: Stamp | None
    updated_at: Stamp | None
    warnings: Annotated[
        list[str],
        Meta(
            description="Only when some stored settings could not be read: which, and why. "
            "Those parts are answered with their defaults."
        ),
    ] = []


class Delivery(msgspec.Struct):
    target: str
    format: Literal["json", "slack", "apprise"]
    status: Literal["pending", "sent", "failed"]
    attempts: int
    last_error: str | None
    sent_at: Stamp | None
    next_attempt_at: Stamp


class Alert(msgspec.Struct):
    id: int
    rule: Rule
    job: str | None
    run_id: Uuid | None
    created_at: Stamp
    text: str
    details: dict[str, Any]
    status: Annotated[
        Literal["sent", "pending", "failed", "none"],
        Meta(description="Across its deliveries: failed, else pending, else sent; none."),
    ]
    deliveries: list[Delivery]


class AlertList(msgspec.Struct):
    items: list[Alert]
    next_cursor: str | None


class AlertTestResult(msgspec.Struct):
    target: str
    format: Literal["json", "slack", "apprise"]
    status: Literal["sent", "failed"]
    error: Annotated[str | None, Meta(description="Why it failed: the answer or Apprise's.")]


class AlertTest(msgspec.Struct):
    """A test alert's outcome at each of the job's targets (its own and the global ones)."""

    job: str
    results: list[AlertTestResult]


MODELS: tuple[Any, ...] = (JobSettings, Job, AlertList, AlertTest)
