"""A corpus of hostile requests: each gets its documented 4xx, never a 500, and ingestd
neither dies nor grows."""

from __future__ import annotations

import base64
import gzip
import http.client
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingestd.read.params import encode_cursor
from tests.conftest import IngestdProcess

RUN = "6f897748-8453-4c94-a1b2-123456789abc"
JSON = {"Content-Type": "application/json"}
NDJSON = {"Content-Type": "application/x-ndjson"}


def one(event: dict[str, Any]) -> bytes:
    return orjson.dumps(event)


def deep(levels: int) -> bytes:
    return b'{"message": "m", "attrs": ' + b'{"a": ' * levels + b"1" + b"}" * levels + b"}"


# (name, body, headers, status, text expected in the answer)
CORPUS: list[tuple[str, bytes, dict[str, str], int, str]] = [
    ("empty body", b"", JSON, 400, "empty"),
    ("whitespace body", b" \n\t ", JSON, 400, "empty"),
    ("truncated JSON", b'{"message": "m', JSON, 400, "not valid JSON"),
    ("trailing garbage", b'{"message": "m"} xyz', JSON, 400, "not valid JSON"),
    ("BOM", b'\xef\xbb\xbf{"message": "bom"}', JSON, 202, '"accepted":1'),
    ("duplicate keys", b'{"message": "a", "message": "b"}', JSON, 202, '"accepted":1'),
    ("invalid UTF-8", b'{"message": "\xff\xfe"}', JSON, 400, "not valid JSON"),
    ("invalid UTF-8 line", b'{"message": "ok"}\n{"message": "\xff"}', NDJSON, 202, '"index":1'),
    ("lone surrogate", b'{"message": "\\ud800"}', JSON, 400, "not valid JSON"),
    ("NUL everywhere", b'{"message": "a\\u0000", "attrs": {"k\\u0000": "\\u0000"}}', JSON, 202, ""),
    ("10,000-deep nesting", deep(10_000), JSON, 400, "not valid JSON"),
    ("20-deep attrs", deep(20), JSON, 400, "deeper than 16"),
    ("100,000 keys", one({"message": "m", "attrs": {f"k{i}": i for i in range(100_000)}}),
     JSON, 400, "at most 65536 allowed"),
    ("huge float", b'{"message": "m", "attrs": {"n": 1e400}}', JSON, 400, "not valid JSON"),
    ("huge integer", b'{"message": "m", "attrs": {"n": 123456789012345678901234567890}}',
     JSON, 202, ""),
    ("year 0", one({"message": "m", "ts": "0000-01-01T00:00:00Z"}), JSON, 400, "RFC 3339"),
    ("year 99999", one({"message": "m", "ts": "99999-01-01T00:00:00Z"}), JSON, 400, "RFC 3339"),
    ("epoch in ms", one({"message": "m", "ts": 1732000000000}), JSON, 400, "milliseconds"),
    ("negative progress", one({"kind": "run", "run_id": RUN, "progress": -1}), JSON, 400,
     "progress"),
    ("1000% progress", one({"kind": "run", "run_id": RUN, "progress": 1000}), JSON, 400,
     "progress"),
    ("bad UUID", one({"message": "m", "run_id": "123"}), JSON, 400, "UUID"),
    ("wrong content type", b"<event/>", {"Content-Type": "application/xml"}, 415, "xml"),
    ("unknown encoding", b"x", {**JSON, "Content-Encoding": "br"}, 415, "gzip"),
    ("truncated gzip", gzip.compress(one({"message": "m"}) * 50)[:-10],
     {**JSON, "Content-Encoding": "gzip"}, 400, "gzip"),
    ("not gzip at all", b"plain", {**JSON, "Content-Encoding": "gzip"}, 400, "gzip"),
    ("a scalar", b"42", JSON, 400, "must be a JSON object"),
    ("an array of scalars", b"[1, null, true]", JSON, 400, "must be a JSON object"),
    ("kind unknown", one({"kind": "metric"}), JSON, 400, "kind"),
    ("over 10 MB", b'{"message": "' + b"x" * (11 << 20) + b'"}', JSON, 413, "larger"),
    ("gzip bomb", gzip.compress(b'{"message": "' + b"x" * (40 << 20) + b'"}'),
     {**JSON, "Content-Encoding": "gzip"}, 413, "inflates"),
    ("9 MB message", b'{"message": "' + b"x" * (9 << 20) + b'"}', JSON, 202, ""),
    ("bad Idempotency-Key", one({"message": "m"}), {**JSON, "Idempotency-Key": "a\tb"}, 400,
     "Idempotency-Key"),
    ("bad wait", one({"message": "m"}), JSON, 400, "wait"),
]  # fmt: skip
NOW = "2026-01-01T00:00:00+00:00"
BIG = 2**63  # one past the largest bigint


def alerts_cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def settings(**body: Any) -> bytes:
    return orjson.dumps(body)


# Requests with hostile parameters or settings: (name, method, path, body, status, text).
PARAM_CORPUS: list[tuple[str, str, str, bytes, int, str]] = [
    ("alert rules as lists", "PUT", "/v1/jobs/j", settings(alerts={"rules": [["failed"]]}),
     400, "alerts.rules"),
    ("alert rules as objects", "PUT", "/v1/jobs/j", settings(alerts={"rules": [{}]}),
     400, "alerts.rules"),
    ("over-long timezone", "PUT", "/v1/jobs/j", settings(cron="0 * * * *", timezone="a" * 300),
     400, "timezone"),
    ("timezone a directory", "PUT", "/v1/jobs/j", settings(cron="0 * * * *", timezone="Europe"),
     400, "not a known time zone"),
    ("timezone not a zone file", "PUT", "/v1/jobs/j",
     settings(cron="0 * * * *", timezone="zone.tab"), 400, "not a known time zone"),
    ("timezone with NUL", "PUT", "/v1/jobs/j", settings(cron="0 * * * *", timezone="UTC\0"),
     400, "not a known time zone"),
    ("impossible cron", "PUT", "/v1/jobs/j", settings(cron="0 0 30 2 *"), 400, "never"),
    ("NUL in an anomaly counter", "PUT", "/v1/jobs/j", settings(anomaly={"counters": ["a\0"]}),
     400, "anomaly.counters"),
    ("NUL in a webhook URL", "PUT", "/v1/jobs/j",
     settings(alerts={"webhooks": ["https://example.test/\0"]}), 400, "webhook URL"),
    ("NUL in a webhook object", "PUT", "/v1/jobs/j",
     settings(alerts={"webhooks": [{"url": "https://ex\0ample.test/"}]}), 400, "webhook URL"),
    ("webhook URL with a broken IPv6 host", "PUT", "/v1/jobs/j",
     settings(alerts={"webhooks": ["https://[::1/hook"]}), 400, "webhook URL"),
    ("NUL in the alerts job filter", "GET", "/v1/alerts?job=a%00b", b"", 400, "job"),
    ("NUL in the runs job filter", "GET", "/v1/runs?job=a%00b", b"", 400, "job"),
    ("NUL in by=attr.*", "GET", "/v1/stats/errors?by=attr.a%00b", b"", 400, "by"),
    ("NUL in a ping job", "GET", "/ping/a%00b", b"", 400, "job"),
    ("NUL in a ping start's job", "POST", "/ping/a%00b/start", b"", 400, "job"),
    ("runs cursor in year 1", "GET",
     "/v1/runs?cursor=" + encode_cursor("runs", ["0001-01-01T00:00:00+14:00", RUN]), b"",
     400, "cursor"),
    ("logs cursor in year 1", "GET",
     "/v1/logs?cursor=" + encode_cursor("logs", ["0001-01-01T00:00:00+00:00", 1]), b"",
     400, "cursor"),
    ("logs cursor id 2^63", "GET", "/v1/logs?cursor=" + encode_cursor("logs", [NOW, BIG]), b"",
     400, "cursor"),
    ("error logs cursor id 2^63", "GET",
     "/v1/logs?min_level=error&cursor=" + encode_cursor("logs", [NOW, BIG]), b"", 400, "cursor"),
    ("run logs cursor id 2^63", "GET",
     f"/v1/runs/{RUN}/logs?cursor=" + encode_cursor("run-logs", [NOW, BIG]), b"", 400, "cursor"),
    ("alerts cursor id 2^63", "GET", "/v1/alerts?cursor=" + alerts_cursor(f"alerts:{BIG}"), b"",
     400, "cursor"),
    ("alerts cursor of superscript digits", "GET",
     "/v1/alerts?cursor=" + alerts_cursor("alerts:\u00b2"), b"", 400, "cursor"),
    ("log level of superscript digits", "GET", "/v1/logs?level=%C2%B2", b"", 400, "level"),
    ("run log min_level of superscript digits", "GET", f"/v1/runs/{RUN}/logs?min_level=%C2%B2",
     b"", 400, "min_level"),
    ("alerts limit of superscript digits", "GET", "/v1/alerts?limit=%C2%B2", b"", 400, "limit"),
]  # fmt: skip
WRONG_TYPES: dict[str, list[Any]] = {
    "message": [1, None, [], {}],
    "ts": [True, [], {}],
    "level": [[], {}, True, "loud", 1000],
    "run_id": [1, [], "x"],
    "job": [1, [], "", "j" * 201],
    "step": [1, {}],
    "attrs": [1, "a", []],
    "source": [1, "a"],
    "error": [1, []],
    "event_id": [1, []],
}


def request(served: IngestdProcess, body: bytes, headers: dict[str, str], path: str) -> Any:
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=60)
    try:
        connection.request(
            "POST", path, body=body, headers={"Authorization": "Bearer ingest-token", **headers}
        )
        answer = connection.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read()
    finally:
        connection.close()


def call(served: IngestdProcess, method: str, path: str, body: bytes) -> tuple[int, Any, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=60)
    try:
        headers = {"Authorization": "Bearer admin-token", "Content-Type": "application/json"}
        connection.request(method, path, body=body or None, headers=headers)
        answer = connection.getresponse()
        return answer.status, answer.getheader("Content-Type"), answer.read()
    finally:
        connection.close()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def served(ingestd_factory_module: Callable[..., IngestdProcess]) -> IngestdProcess:
    return ingestd_factory_module()


@pytest.mark.parametrize(("name", "body", "headers", "status", "text"), CORPUS,
                         ids=[c[0] for c in CORPUS])  # fmt: skip
def test_each_hostile_request_gets_its_documented_answer(
    served: IngestdProcess, name: str, body: bytes, headers: dict[str, str], status: int, text: str
) -> None:
    path = "/v1/events?wait=maybe" if name == "bad wait" else "/v1/events"
    got, answer_headers, answer = request(served, body, headers, path)
    assert got == status, answer[:300]
    if status >= 400:
        assert answer_headers["Content-Type"] == "application/problem+json"
        assert orjson.loads(answer)["status"] == status
    assert text.encode() in answer


@pytest.mark.parametrize(("name", "method", "path", "body", "status", "text"), PARAM_CORPUS,
                         ids=[c[0] for c in PARAM_CORPUS])  # fmt: skip
def test_each_hostile_parameter_or_setting_is_a_400_that_says_what_is_wrong(
    served: IngestdProcess, name: str, method: str, path: str, body: bytes, status: int, text: str
) -> None:
    got, content_type, answer = call(served, method, path, body)
    assert got == status, answer[:300]
    assert content_type == "application/problem+json"
    assert text in orjson.loads(answer)["detail"]


@pytest.mark.parametrize("field", sorted(WRONG_TYPES))
def test_every_field_with_a_wrong_type_is_rejected_by_name(
    served: IngestdProcess, field: str
) -> None:
    for value in WRONG_TYPES[field]:
        event = {"message": "m", field: value}
        got, _, answer = request(served, one(event), JSON, "/v1/events")
        assert got == 400, (field, value, answer[:200])
        assert field.encode() in answer or b"message" in answer


def test_after_the_corpus_ingestd_is_alive_and_small(served: IngestdProcess) -> None:
    assert served.proc is not None and served.proc.poll() is None
    got, _, _ = request(served, one({"message": "still here"}), JSON, "/v1/events?wait=commit")
    assert got == 200
    assert rss_mb(served.proc.pid) < 300
    errors = served.query("SELECT count(*) AS n FROM dead_letters")[0]["n"]
    assert errors == 0
    assert "Traceback" not in served.log_path.read_text()
