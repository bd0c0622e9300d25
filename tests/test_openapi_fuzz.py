"""Every operation of /v1/openapi.json, fuzzed by schemathesis against a real ingestd process:
no answer is a 5xx, every status is one the document lists for that operation, and every
answer has the content type and the body schema the document gives for its status.

Bounded and repeatable: a fixed seed, derandomized generation, a few examples per operation
(plus schemathesis' examples and coverage phases, which are deterministic), no example
database written anywhere.

Operations with side effects, handled on purpose:
- `/v1/tail` is an endless stream: each request is read for at most TAIL_READ_S, then cut.
- Pings and POST /v1/runs create runs, POST /v1/events stores events, DELETE /v1/logs and
  /v1/runs delete and drop partitions: all fuzzed as they are, bounded by the example count,
  in a database made for this module alone.
- PUT /v1/jobs/{job} may store webhooks: the monitor ticks once at start (on an empty
  database) and then only hourly, and global webhooks are none, so no alert is raised and
  ingestd calls out nowhere; `test_the_fuzzer_made_ingestd_call_out_nowhere` checks it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
import requests
import schemathesis

from ingestd.openapi.document import DOCUMENT
from tests.conftest import IngestdProcess

if TYPE_CHECKING:
    from schemathesis.specs.openapi.schemas import OpenApiCase

#: Generated examples per operation and phase; the coverage phase adds its own bounded set.
MAX_EXAMPLES = 5
SEED = 20261206
TAIL_READ_S = 0.3
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        # The admin token has every scope: the fuzzer reaches each handler's own checks.
        "headers": {"Authorization": "Bearer admin-token"},
        "request-timeout": 30,
        "operations": [
            {"include-path": "/v1/tail", "request-timeout": TAIL_READ_S, "max-stream-events": 1}
        ],
    }
)
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)


@schemathesis.serializer("application/x-ndjson")
def _ndjson(context: schemathesis.SerializationContext, value: Any) -> bytes:
    # The document gives NDJSON as text; lone surrogates go on the wire as the bad UTF-8
    # they are, for the server to refuse.
    return str(value).encode("utf-8", "surrogatepass")


@pytest.fixture(scope="module")
def target(ingestd_factory_module: Callable[..., IngestdProcess]) -> IngestdProcess:
    return ingestd_factory_module({"INGESTD_MONITOR_INTERVAL_S": "3600"})


@pytest.fixture(scope="module")
def session() -> Any:
    with requests.Session() as http:
        yield http


@SCHEMA.parametrize()
def test_every_operation_answers_as_documented(
    case: OpenApiCase, target: IngestdProcess, session: requests.Session
) -> None:
    case.call_and_validate(base_url=target.url, session=session)


def test_the_fuzzer_made_ingestd_call_out_nowhere(target: IngestdProcess) -> None:
    assert target.query("SELECT count(*) AS n FROM alert_deliveries") == [{"n": 0}]
