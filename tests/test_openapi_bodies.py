"""/v1/openapi.json and the server agree on bodies, not only on routes: every documented
request field is taken and no other, the examples are taken, and answers fit their
documented schemas field for field."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator, FormatChecker

from ingestd.ingest.events import Limits, parse_event, parse_log
from ingestd.ingest.vocab import STATUS_ALIASES, STATUSES
from ingestd.monitoring import job_settings
from ingestd.monitoring.webhooks import Target
from ingestd.openapi.document import DOCUMENT
from tests.conftest import Served
from tests.monitor_helpers import Receiver, deliver, receiver, run, tick

__all__ = ["receiver"]  # the fixture

SCHEMAS: dict[str, Any] = DOCUMENT["components"]["schemas"]
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def properties(name: str) -> set[str]:
    return set(SCHEMAS[name]["properties"])


def _closed(node: Any) -> Any:
    """The schema with every object that lists its properties closed to any other: so an
    answer carrying a field the document does not name fails validation."""
    if isinstance(node, dict):
        node = {key: _closed(value) for key, value in node.items()}
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        return node
    if isinstance(node, list):
        return [_closed(value) for value in node]
    return node


STRICT = _closed(copy.deepcopy(DOCUMENT["components"]))


def check(instance: Any, schema: dict[str, Any], *, strict: bool = True) -> None:
    components = STRICT if strict else DOCUMENT["components"]
    validator = Draft202012Validator(
        {**schema, "components": components}, format_checker=FormatChecker()
    )
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]


# --- requests: the examples ----------------------------------------------------------------


def _request_bodies() -> list[tuple[str, str, str, str, Any]]:
    """(method, path, schema name, example name, body) for every documented example."""
    found = []
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "requestBody" not in operation:
                continue
            media = operation["requestBody"]["content"].get("application/json", {})
            ref = media.get("schema", {}).get("$ref", "")
            name = ref.rsplit("/", 1)[-1] if ref else "Event"
            for example, body in media.get("examples", {}).items():
                found.append((method, path, name, example, body["value"]))
    return found


BODIES = _request_bodies()


def test_every_json_request_body_has_examples() -> None:
    documented = {(m, p) for m, p, *_ in BODIES}
    assert documented == {
        ("post", "/v1/events"),
        ("post", "/v1/runs"),
        ("patch", "/v1/runs/{run_id}"),
        ("post", "/v1/runs/{run_id}/finish"),
        ("put", "/v1/jobs/{job}"),
    }


@pytest.mark.parametrize(("method", "path", "name", "example", "body"), BODIES)
def test_examples_fit_their_schemas(
    method: str, path: str, name: str, example: str, body: Any
) -> None:
    check(body, {"$ref": f"#/components/schemas/{name}"}, strict=False)


@pytest.mark.parametrize(
    ("name", "nested"),
    [
        ("LogEvent", {}),
        ("RunEvent", {}),
        ("RunCreate", {}),
        ("RunUpdate", {}),
        ("RunFinish", {}),
        ("JobSettings", {"alerts": "AlertSettings", "anomaly": "AnomalySettings"}),
    ],
)
def test_examples_use_every_documented_field(name: str, nested: dict[str, str]) -> None:
    """With test_example_bodies_are_taken: a documented field the server refuses fails."""
    bodies = [b for *_, schema, _, b in BODIES if schema == name]
    if name.endswith("Event"):
        bodies = [b for *_, schema, _, b in BODIES if schema == "Event"]
        kind = "run" if name == "RunEvent" else "log"
        bodies = [b for b in bodies if b.get("kind", "log") == kind]
    assert set().union(*bodies) == properties(name)
    for field, inner in nested.items():
        used = set().union(*(b[field] for b in bodies if field in b))
        assert used == properties(inner), field


async def test_example_bodies_are_taken(server: Served) -> None:
    async with server.http.post("v1/runs", data=b'{"job": "examples"}') as answer:
        run_id = (await answer.json())["run_id"]
    for method, path, _, example, body in BODIES:
        url = path.format(run_id=run_id, job="examples").lstrip("/")
        async with server.http.request(method, url, data=orjson.dumps(body)) as answer:
            assert answer.status < 300, (path, example, await answer.text())
            if path == "/v1/events":
                assert (await answer.json())["rejected"] == [], example


# --- requests: field by field --------------------------------------------------------------

RUN_ID = str(uuid.uuid4())
#: A good value for each field a run body or event might carry.
SAMPLES: dict[str, Any] = {
    "job": "sampled",
    "run_id": RUN_ID,
    "trigger": "manual",
    "attrs": {"host": "db1"},
    "started_at": "2026-01-01T00:00:00Z",
    "finished_at": 1767226000,
    "ts": "2026-01-01T00:00:01+01:00",
    "status": "running",
    "step": "COPY",
    "progress": 12.5,
    "counters": {"files": 3},
    "result": {"bytes": 10},
    "error": {"type": "OSError", "message": "disk full"},
    "message": "hello",
    "level": "warn",
    "source": {"logger": "x", "line": 3},
    "event_id": "e-1",
    "seq": 3,
    "kind": "run",
    "colour": "red",
}

REST_BODIES = [
    ("post", "v1/runs", "RunCreate", {"job": "sampled"}),
    ("patch", "v1/runs/{run_id}", "RunUpdate", {}),
    ("post", "v1/runs/{run_id}/finish", "RunFinish", {"status": "success"}),
]


@pytest.mark.parametrize(("method", "path", "name", "base"), REST_BODIES)
async def test_run_bodies_take_exactly_their_documented_fields(
    server: Served, method: str, path: str, name: str, base: dict[str, Any]
) -> None:
    async with server.http.post("v1/runs", data=b'{"job": "sampled"}') as answer:
        run_id = (await answer.json())["run_id"]
    documented = properties(name)
    for field, value in SAMPLES.items():
        if field == "run_id" and "{run_id}" in path:
            continue  # the path names the run (a run_id in the body gives way to it)
        body = {**base, field: value}
        url = path.format(run_id=run_id)
        async with server.http.request(method, url, data=orjson.dumps(body)) as answer:
            taken = answer.status < 300
            assert taken == (field in documented), (name, field, await answer.text())


async def test_run_bodies_name_the_field_at_fault(server: Served) -> None:
    """Today's reasons stay: the parser's, naming the field and the value."""
    for body, says in (
        ({"job": "j", "progress": 101}, "progress must be a number from 0 to 100"),
        ({"job": "j", "status": "sideways"}, "status 'sideways' is unknown"),
        ({"job": "j", "started_at": "noon"}, "started_at must be RFC 3339"),
        ({"job": "j", "counters": {"n": "3"}}, "counters.n must be a number"),
        ({"job": "j", "run_id": "nope"}, "run_id must be a UUID"),
        ({"job": "j", "kind": "run"}, "unknown field(s) kind"),
    ):
        async with server.http.post("v1/runs", data=orjson.dumps(body)) as answer:
            assert answer.status == 400
            assert says in (await answer.json())["detail"], body


async def test_a_run_body_against_its_own_schema_is_refused_naming_the_field(
    server: Served,
) -> None:
    """The parser lets the error object's fields be anything; the document says strings.
    The server now holds to the document, so the two cannot part."""
    async with server.http.post("v1/runs", data=b'{"job": "typed"}') as answer:
        run_id = (await answer.json())["run_id"]
    body = {"status": "failed", "error": {"message": 5}}
    async with server.http.post(f"v1/runs/{run_id}/finish", data=orjson.dumps(body)) as answer:
        assert answer.status == 400
        assert "$.error.message" in (await answer.json())["detail"]


async def test_run_bodies_take_today_spellings(server: Served) -> None:
    """Aliases, odd UUID spellings, epoch times, nulls as 'not given': all still taken."""
    run_id = uuid.uuid4()
    body = {
        "job": "spellings",
        "run_id": str(run_id).upper().replace("-", ""),
        "status": "QUEUED",
        "started_at": 1767225600.25,
        "step": None,
        "attrs": None,
    }
    async with server.http.post("v1/runs", data=orjson.dumps(body)) as answer:
        assert answer.status == 201, await answer.text()
        assert (await answer.json())["run_id"] == str(run_id)
    finish = {"status": "timeout", "finished_at": "2026-01-01T00:10:00", "error": "late"}
    async with server.http.post(f"v1/runs/{run_id}/finish", data=orjson.dumps(finish)) as answer:
        assert answer.status == 200, await answer.text()
        assert (await answer.json())["status"] == "timed_out"


def test_run_events_take_exactly_their_documented_fields() -> None:
    documented = properties("RunEvent")
    for field, value in SAMPLES.items():
        event = {"kind": "run", "run_id": RUN_ID, field: value}
        try:
            parse_event(event, NOW, Limits())
            taken = True
        except ValueError:
            taken = False
        assert taken == (field in documented), field


def test_log_events_read_exactly_their_documented_fields() -> None:
    """parse_log ignores fields it does not know: so what it reads must be what is named."""

    class Recording(dict[str, Any]):
        read: set[str] = set()

        def get(self, key: str, default: Any = None) -> Any:
            self.read.add(key)
            return super().get(key, default)

        def __getitem__(self, key: str) -> Any:
            self.read.add(key)
            return super().__getitem__(key)

    parse_log(Recording(message="m"), NOW, Limits())
    assert Recording.read | {"kind"} == properties("LogEvent")


@pytest.mark.parametrize("field", sorted(properties("LogEvent") - {"kind", "message"}))
def test_each_documented_log_field_is_kept(field: str) -> None:
    plain = parse_event({"message": "hello"}, NOW, Limits())
    given = parse_event({"message": "hello", field: SAMPLES[field]}, NOW, Limits())
    assert given != plain, f"{field} was dropped"


def test_status_aliases_are_documented() -> None:
    described = SCHEMAS["RunCreate"]["properties"]["status"]["anyOf"][0]["description"]
    named = {word.strip(" .") for word in described.split(":", 1)[1].split(",")}
    assert named == set(STATUS_ALIASES)
    assert set(SCHEMAS["Run"]["properties"]["status"]["enum"]) == set(STATUSES)


def test_job_settings_document_exactly_the_fields_the_parser_takes() -> None:
    assert properties("JobSettings") == job_settings._FIELDS
    assert properties("AlertSettings") == job_settings._ALERT_FIELDS
    assert properties("AnomalySettings") == job_settings._ANOMALY_FIELDS
    for unknown in ({"schedule": "daily"}, {"alerts": {"channel": "x"}}, {"anomaly": {"w": 1}}):
        with pytest.raises(job_settings.SettingsInvalid, match="unknown field"):
            job_settings.parse("j", unknown)


# --- answers -------------------------------------------------------------------------------


def _documented_schema(method: str, path: str, status: int, content_type: str) -> dict[str, Any]:
    responses = DOCUMENT["paths"][path][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {path} answered an undocumented {status}"
    response = responses[str(status)]
    if "$ref" in response:
        response = DOCUMENT["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    schema: dict[str, Any] = response["content"][content_type]["schema"]
    return schema


async def exchange(
    server: Served, method: str, path: str, body: Any = None, **values: str
) -> tuple[int, Any]:
    """One request to a documented path; its answer checked against the document."""
    url = path.format(**values).lstrip("/")
    data = None if body is None else orjson.dumps(body)
    params = values.get("query")
    async with server.http.request(method, url + (params or ""), data=data) as answer:
        content = await answer.json(content_type=None)
        status, content_type = answer.status, answer.content_type
    check(content, _documented_schema(method, path, status, content_type))
    return status, content


async def test_answers_fit_their_documented_schemas(
    server_factory: Callable[..., Awaitable[Served]], receiver: Receiver
) -> None:
    server = await server_factory(monitor_interval_s=3600, alert_webhooks=(Target(receiver.url),))
    now = datetime.now(UTC)
    failed = run("nightly", now - timedelta(hours=2), status="failed", attrs={"host": "db1"},
                 error={"message": "disk full"})  # fmt: skip
    events = [
        failed,
        {"message": "disk full", "level": "error", "run_id": failed["run_id"], "step": "COPY",
         "attrs": {"host": "db1"}, "error": {"type": "OSError", "message": "disk full"}},
        {"message": "loose", "source": {"logger": "x"}},
        {"message": 3},
    ]  # fmt: skip
    status, answer = await exchange(server, "post", "/v1/events", events, query="?wait=commit")
    assert (status, len(answer["rejected"])) == (200, 1)
    status, created = await exchange(server, "post", "/v1/runs", {"job": "nightly"})
    run_id = created["run_id"]
    await exchange(server, "patch", "/v1/runs/{run_id}", {"progress": 5}, run_id=run_id)
    await exchange(server, "post", "/v1/runs/{run_id}/finish", {"status": "ok"}, run_id=run_id)
    status, _ = await exchange(server, "put", "/v1/jobs/{job}", {"every": "1d"}, job="nightly")
    assert status == 201
    await tick(server)
    await deliver(server)
    for path, query in (
        ("/v1/runs", ""),
        ("/v1/runs/{run_id}", ""),
        ("/v1/runs/{run_id}/logs", ""),
        ("/v1/logs", "?limit=1"),
        ("/v1/jobs", "?recent=3"),
        ("/v1/jobs/{job}", ""),
        ("/v1/alerts", ""),
        ("/v1/stats/summary", ""),
        ("/v1/stats/jobs", ""),
        ("/v1/stats/errors", "?by=fingerprint"),
        ("/v1/stats/errors", "?by=attr.host"),
        ("/v1/stats/errors", "?by=job,step"),
        ("/v1/stats/errors/runs", "?by=step&key=COPY"),
        ("/v1/stats/by", "?attr=host"),
        ("/v1/stats/timeseries", "?bucket=day"),
    ):
        status, answer = await exchange(
            server, "get", path, run_id=failed["run_id"], job="nightly", query=query
        )
        assert status == 200, (path, answer)
        assert answer.get("items", [1]), f"{path}: nothing to check"
    # Problems are answers too.
    assert (await exchange(server, "get", "/v1/runs", query="?limit=0"))[0] == 400
    assert (await exchange(server, "get", "/v1/runs/{run_id}", run_id=str(uuid.uuid4())))[0] == 404
    before = "?before=" + (now - timedelta(days=400)).isoformat().replace("+", "%2B")
    for path in ("/v1/logs", "/v1/runs"):
        assert (await exchange(server, "delete", path, query=before))[0] == 200
    assert (await exchange(server, "delete", "/v1/jobs/{job}", job="nightly"))[0] == 200
