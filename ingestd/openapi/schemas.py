"""`components.schemas` of the OpenAPI document, generated from the msgspec Structs that
describe each area's bodies and answers (`ingest/models.py`, `read/models.py`,
`monitoring/models.py`): JSON Schema 2020-12, which OpenAPI 3.1 takes as it is."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, UnsetType

from ingestd.ingest import models as ingest_models
from ingestd.monitoring import models as monitoring_models
from ingestd.read import models as read_models

REF_TEMPLATE = "#/components/schemas/{name}"


def ref(name: str) -> dict[str, str]:
    return {"$ref": REF_TEMPLATE.format(name=name)}


class Problem(msgspec.Struct, omit_defaults=True):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str | UnsetType = UNSET
    errors: list[Any] | UnsetType = UNSET
    parameter: Annotated[str, Meta(description="The query parameter at fault.")] | UnsetType = UNSET


def _generated() -> dict[str, Any]:
    models = (
        Problem, *ingest_models.MODELS, *read_models.MODELS, *monitoring_models.MODELS
    )  # fmt: skip
    _, components = msgspec.json.schema_components(models, ref_template=REF_TEMPLATE)
    for schema in components.values():
        schema.pop("title", None)  # the component's name says it already
    components["JobSettings"]["allOf"] = _ONE_SCHEDULE
    return components


#: What a Struct cannot say: every and cron are not both given (not null), and a timezone
#: is a cron line's (job_settings.parse refuses both, naming them).
_BOTH_GIVEN = {"every": {"not": {"type": "null"}}, "cron": {"not": {"type": "null"}}}
_ONE_SCHEDULE = [
    {"not": {"required": ["every", "cron"], "properties": _BOTH_GIVEN}},
    {
        "if": {"required": ["timezone"], "properties": {"timezone": {"type": "string"}}},
        "then": {"required": ["cron"], "properties": {"cron": {"type": "string"}}},
    },
]


SCHEMAS: dict[str, Any] = {
    **_generated(),
    # A body's event is a log event unless its kind says run.
    "Event": {"oneOf": [ref("LogEvent"), ref("RunEvent")]},
}
