"""Property: whatever JSON values and keys an event's fields hold, the writer keeps writing.

Events are drawn with arbitrary JSON (NUL, lone surrogates, quotes, huge numbers, nesting) in
every field, validated as ingestd does, and written between two good events by a real
BatchWriter into a real PostgreSQL. What validation accepts is stored (made storable, never
refused); rows that skip validation are stored, dead-lettered or dropped, never retried for
good; the good events around them are always committed."""

from __future__ import annotations

import contextlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ingestd.ingest.events import (
    Event,
    EventError,
    Limits,
    LogRow,
    RunEvent,
    parse_event,
)
from ingestd.ingest.parcel import Parcel
from tests.writer_helpers import pool, raw_parcel, write

__all__ = ["pool"]  # the fixture, imported to be found

# Bounded: a few dozen examples, each a real write, in seconds; no deadline on a busy machine.
BOUNDED = settings(
    max_examples=50,
    deadline=None,
    database=None,  # no .hypothesis/ in the tree: a failure prints its example
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# What PostgreSQL refuses (NUL, lone surrogates), what JSON escapes, and anything else.
AWKWARD = st.sampled_from(["\x00", "\ud800", "\udfff", "\\", '"', "\u2028", "é", "😀", "%"])
TEXT = st.text(AWKWARD, max_size=6) | st.text(st.characters(), max_size=8)
SCALARS = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | TEXT
)  # fmt: skip
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
OBJECTS = st.dictionaries(TEXT, JSON, max_size=4)
NAMES = TEXT.filter(bool)
TIMES = st.floats(0, 2e9) | st.datetimes(
    datetime(1970, 1, 2), datetime(9999, 12, 30), timezones=st.just(UTC)
).map(datetime.isoformat)
NUMBERS = st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)


def field(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field's value: mostly one it could take (awkward text in it), else any JSON at all;
    so that most events pass validation and reach the database."""
    return st.integers(0, 4).flatmap(lambda n: JSON if n == 0 else valid)


LOGS = st.fixed_dictionaries(
    {"message": field(TEXT)},
    optional={
        "ts": field(TIMES),
        "level": field(st.sampled_from(["info", "error", "critical"]) | st.integers(0, 100)),
        "job": field(NAMES),
        "run_id": field(st.uuids().map(str)),
        "step": field(NAMES),
        "attrs": field(OBJECTS),
        "source": field(OBJECTS),
        "error": field(OBJECTS | TEXT),
        "event_id": field(NAMES),
    },
)
RUNS = st.fixed_dictionaries(
    {"kind": st.just("run"), "run_id": st.uuids().map(str)},
    optional={
        "job": field(NAMES),
        "status": field(st.sampled_from(["running", "success", "failed", "timed_out"])),
        "trigger": field(NAMES),
        "started_at": field(TIMES),
        "finished_at": field(TIMES),
        "ts": field(TIMES),
        "progress": field(st.floats(0, 100)),
        "step": field(NAMES),
        "counters": field(st.dictionaries(TEXT, NUMBERS, max_size=4)),
        "result": field(OBJECTS),
        "error": field(OBJECTS | TEXT),
        "attrs": field(OBJECTS),
    },
)


def good(marker: str, where: str) -> Parcel:
    now = datetime.now(UTC)
    return Parcel([parse_event({"message": f"{marker} {where}"}, now, Limits())], 1)


async def good_ones_stored(pool: asyncpg.Pool, marker: str) -> list[str]:
    rows = await pool.fetch("SELECT message FROM logs WHERE message LIKE $1 || '%'", marker)
    return sorted(r["message"] for r in rows)


#: Issue 13.1: jsonb refused the key, then the dead letter; the writer retried for good.
NUL_IN_A_COUNTERS_KEY = {"kind": "run", "run_id": str(uuid.uuid4()), "counters": {"\x00": 1}}


@BOUNDED
@given(sent=st.lists(LOGS | RUNS, min_size=1, max_size=4))
@example(sent=[NUL_IN_A_COUNTERS_KEY])
@example(sent=[{"message": "m", "job": "\ud800", "attrs": {"\udfff": "\x00"}}])
async def test_what_validation_accepts_is_stored_and_the_writer_goes_on(
    pool: asyncpg.Pool, sent: list[dict[str, Any]]
) -> None:
    now = datetime.now(UTC)
    accepted: list[Event] = []
    for event in sent:
        # Rejected by name (a 4xx): nothing else may come out of validation.
        with contextlib.suppress(EventError):
            accepted.append(parse_event(event, now, Limits()))
    marker = uuid.uuid4().hex
    parcels = [good(marker, "before"), Parcel(accepted, 1), good(marker, "after")]
    stats = (await write(pool, *parcels)).stats
    assert (stats.dead_lettered, stats.dropped) == (0, 0)
    assert stats.committed + stats.duplicates == len(accepted) + 2
    assert await good_ones_stored(pool, marker) == [f"{marker} after", f"{marker} before"]


def unvalidated_log(message: str, attrs: Any, job: str) -> LogRow:
    """A log row as no validation would let through: any text, attrs as any JSON text."""
    now = datetime.now(UTC)
    text = None if attrs is None else json.dumps(attrs)  # writes \u0000 and lone surrogates
    run_id = str(uuid.uuid4())  # not loose_key(job): that needs a job in UTF-8
    return (now, now, 20, job, run_id, None, message, text, None, None, None, None, None)


UNVALIDATED = st.builds(unvalidated_log, TEXT, JSON, NAMES) | st.builds(
    RunEvent,
    run_id=st.uuids().map(str),
    ts=st.just(datetime.now(UTC)),
    job=NAMES | st.none(),
    counters=OBJECTS,
    attrs=OBJECTS,
)


@BOUNDED
@given(rows=st.lists(UNVALIDATED, min_size=1, max_size=4))
async def test_rows_that_skip_validation_never_stop_the_writer(
    pool: asyncpg.Pool, rows: list[Event]
) -> None:
    marker = uuid.uuid4().hex
    parcels = [good(marker, "before"), raw_parcel(*rows), good(marker, "after")]
    stats = (await write(pool, *parcels)).stats  # a writer retrying for good times out
    accounted = stats.committed + stats.duplicates + stats.dead_lettered + stats.dropped
    assert accounted == len(rows) + 2
    assert await good_ones_stored(pool, marker) == [f"{marker} after", f"{marker} before"]
