"""Parsing and validation of single events (ingestd.ingest.events)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from ingestd.ingest.events import (
    JOB,
    LEVELNO,
    RUN_ID,
    TS,
    EventError,
    Limits,
    RunEvent,
    in_run,
    loose_key,
    parse_event,
)

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
LIMITS = Limits(max_message_bytes=100, max_attrs_bytes=200, max_attrs_depth=4)
RUN = "6f897748-8453-4c94-a1b2-123456789abc"


def log(**fields: Any) -> tuple[Any, ...]:
    row = parse_event({"message": "m", **fields}, NOW, LIMITS)
    assert isinstance(row, tuple)
    return row


def run(**fields: Any) -> RunEvent:
    event = parse_event({"kind": "run", "run_id": RUN, **fields}, NOW, LIMITS)
    assert isinstance(event, RunEvent)
    return event


def rejects(fields: dict[str, Any], reason: str) -> None:
    with pytest.raises(EventError, match=reason):
        parse_event(fields, NOW, LIMITS)


@pytest.mark.parametrize(
    ("level", "levelno"),
    [
        ("info", 20),
        ("WARN", 30),
        ("Warning", 30),
        ("fatal", 50),
        ("err", 40),
        ("success", 25),
        ("trace", 5),
        (15, 15),
        (40.0, 40),
        (None, 20),
    ],
)
def test_levels_accept_names_aliases_and_numbers(level: Any, levelno: int) -> None:
    fields = {} if level is None else {"level": level}
    assert log(**fields)[LEVELNO] == levelno


@pytest.mark.parametrize("level", ["loud", 101, -1, 2.5, True, [], {}])
def test_unknown_levels_are_rejected(level: Any) -> None:
    rejects({"message": "m", "level": level}, "level")


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        ("2024-01-15T14:00:00Z", datetime(2024, 1, 15, 14, tzinfo=UTC)),
        ("2024-01-15T16:00:00+02:00", datetime(2024, 1, 15, 14, tzinfo=UTC)),
        ("2024-01-15T14:00:00", datetime(2024, 1, 15, 14, tzinfo=UTC)),
        (1705327200, datetime(2024, 1, 15, 14, tzinfo=UTC)),
        (1705327200.5, datetime(2024, 1, 15, 14, 0, 0, 500000, tzinfo=UTC)),
    ],
)
def test_times_accept_rfc3339_and_epoch_seconds(ts: Any, expected: datetime) -> None:
    assert log(ts=ts)[TS] == expected


@pytest.mark.parametrize(
    ("ts", "reason"),
    [
        ("0000-01-01T00:00:00Z", "RFC 3339"),
        ("99999-01-01T00:00:00Z", "RFC 3339"),
        ("yesterday", "RFC 3339"),
        (1705327200000, "milliseconds"),
        (-5, "out of range"),
        (True, "RFC 3339 text or epoch"),
        ("1969-12-31T23:59:59Z", "between 1970 and 9999"),
    ],
)
def test_bad_times_are_rejected_with_a_reason(ts: Any, reason: str) -> None:
    rejects({"message": "m", "ts": ts}, reason)


def test_ts_defaults_to_time_received() -> None:
    assert log()[TS] == NOW


def test_message_is_required_and_must_be_text() -> None:
    rejects({"level": "info"}, "message is required")
    rejects({"message": 42}, "message must be a string")


def test_long_message_is_truncated_with_a_visible_marker() -> None:
    row = log(message="é" * 300)
    message = row[6]
    assert message.startswith("é" * 50)
    assert "[truncated 500 bytes]" in message


def test_nul_characters_are_made_storable() -> None:
    row = log(message="a\x00b", job="j\x00", attrs={"k\x00": "v\x00"})
    assert row[6] == "a\ufffdb"
    assert row[JOB] == "j\ufffd"
    assert orjson.loads(row[7]) == {"k\ufffd": "v\ufffd"}


def test_attrs_must_be_an_object_within_size_and_depth() -> None:
    rejects({"message": "m", "attrs": [1]}, "attrs must be an object")
    rejects({"message": "m", "attrs": {"x": "y" * 300}}, "bytes; at most 200")
    rejects({"message": "m", "attrs": {"a": {"b": {"c": {"d": {"e": 1}}}}}}, "deeper than 4")
    assert orjson.loads(log(attrs={"a": [[1], [2]], "b": {"c": 1}})[7]) == {
        "a": [[1], [2]],
        "b": {"c": 1},
    }


def test_integers_beyond_64_bits_are_rejected_not_crashing() -> None:
    rejects({"message": "m", "attrs": {"n": 2**70}}, "cannot be stored")


def test_run_ids_are_normalised_and_bad_ones_rejected() -> None:
    assert log(run_id=RUN.upper())[RUN_ID] == RUN
    assert log(run_id="{" + RUN + "}")[RUN_ID] == RUN
    rejects({"message": "m", "run_id": "not-a-uuid"}, "run_id must be a UUID")
    rejects({"message": "m", "run_id": 12}, "run_id must be a UUID")
    rejects({"message": "m", "run_id": []}, "run_id must be a UUID")
    rejects({"message": "m", "run_id": {}}, "run_id must be a UUID")


def test_logs_outside_runs_get_the_jobs_loose_key() -> None:
    row = log(job="nightly")
    assert row[RUN_ID] == loose_key("nightly")
    assert not in_run(row)
    assert in_run(log(job="nightly", run_id=RUN))


def test_error_logs_get_a_fingerprint_shared_by_similar_messages() -> None:
    a = log(level="error", message="timeout after 30s talking to 10.0.0.1")
    b = log(level="error", message="timeout after 45s talking to 10.0.0.7")
    c = log(level="error", message="disk full")
    assert a[11] == b[11] != c[11]
    assert log(level="info")[11] is None


def test_error_may_be_a_string_or_an_object() -> None:
    assert orjson.loads(log(error="boom")[9]) == {"message": "boom"}
    rejects({"message": "m", "error": 5}, "error must be an object or a string")


def test_kind_must_be_log_or_run() -> None:
    rejects({"kind": "metric", "message": "m"}, "kind must be")
    rejects([1, 2], "must be a JSON object")  # type: ignore[arg-type]


def test_run_events_normalise_status_aliases() -> None:
    assert run(status="OK").status == "success"
    assert run(status="canceled").status == "cancelled"
    assert run(status="Failure").status == "failed"
    assert run(status="queued").status == "pending"
    rejects({"kind": "run", "run_id": RUN, "status": "great"}, "status 'great' is unknown")


def test_run_events_validate_every_field() -> None:
    rejects({"kind": "run", "job": "x"}, "run_id is required")
    rejects({"kind": "run", "run_id": RUN, "progress": 1000}, "progress must be")
    rejects({"kind": "run", "run_id": RUN, "progress": -1}, "progress must be")
    rejects({"kind": "run", "run_id": RUN, "counters": {"a": "x"}}, r"counters.a must be")
    rejects({"kind": "run", "run_id": RUN, "stauts": "ok"}, "unknown field 'stauts'")
    rejects({"kind": "run", "run_id": RUN, "job": ""}, "job must be a non-empty string")
    event = run(job="j", progress=40, counters={"rows": 5}, attrs={"a": 1}, trigger="cron")
    assert (event.job, event.progress, event.counters, event.trigger) == (
        "j",
        40.0,
        {"rows": 5},
        "cron",
    )
