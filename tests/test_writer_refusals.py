"""What the database refuses never stops the writer: errors sorted by what they say about
the data, and an event refused even by dead_letters kept escaped, or dropped and counted."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
import pytest
from asyncpg.exceptions._base import DataError as ClientDataError
from asyncpg.exceptions._base import InternalClientError

from ingestd.db.database import ErrorKind, error_kind
from ingestd.ingest.events import Limits, LogRow, loose_key, parse_event
from ingestd.ingest.parcel import Parcel
from tests.conftest import IngestdProcess, Served
from tests.test_hostile_input import JSON, one, request
from tests.test_metrics import scrape
from tests.writer_helpers import pool, raw_parcel, write

__all__ = ["pool"]  # the fixture, imported to be found


def state(sqlstate: str) -> asyncpg.PostgresError:
    return asyncpg.PostgresError.new({"C": sqlstate, "M": "m"})


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (state("22P05"), ErrorKind.DATA),  # untranslatable character: a NUL in jsonb
        (state("22021"), ErrorKind.DATA),  # character not in repertoire
        (state("23514"), ErrorKind.DATA),  # a check constraint
        (state("54000"), ErrorKind.DATA),  # too long for an index
        (state("42804"), ErrorKind.DATA),  # datatype mismatch
        (ClientDataError("invalid input for query argument $1"), ErrorKind.DATA),
        (UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"), ErrorKind.DATA),
        (state("08006"), ErrorKind.AWAY),
        (state("25006"), ErrorKind.AWAY),  # read-only: a failover to a standby
        (state("40001"), ErrorKind.AWAY),  # serialization failure
        (state("40P01"), ErrorKind.AWAY),  # deadlock
        (state("42P01"), ErrorKind.AWAY),  # a table missing
        (state("53100"), ErrorKind.AWAY),  # disk full
        (state("55P03"), ErrorKind.AWAY),  # lock not available
        (state("57P01"), ErrorKind.AWAY),  # admin shutdown
        (state("57014"), ErrorKind.AWAY),  # statement timeout
        (ConnectionResetError(), ErrorKind.AWAY),
        (TimeoutError(), ErrorKind.AWAY),
        (InternalClientError("cannot switch to state 15"), ErrorKind.AWAY),
        (state("P0001"), ErrorKind.REFUSED),  # a trigger's RAISE
        (state("0A000"), ErrorKind.REFUSED),
        (RuntimeError("ours"), ErrorKind.BUG),
    ],
    ids=repr,
)
def test_errors_are_sorted_by_what_they_say_about_the_data(
    error: BaseException, kind: ErrorKind
) -> None:
    assert error_kind(error) is kind


def row(message: str, *, attrs: str | None = None, job: str = "w") -> LogRow:
    now = datetime.now(UTC)
    return (now, now, 20, job, loose_key(job), None, message, attrs, None, None, None, None, None)


def good(*messages: str) -> Parcel:
    now = datetime.now(UTC)
    return Parcel([parse_event({"message": m, "job": "w"}, now, Limits()) for m in messages], 1)


async def stored(pool: asyncpg.Pool) -> list[str]:
    return [r["message"] for r in await pool.fetch("SELECT message FROM logs ORDER BY id")]


async def dead(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch("SELECT reason, event::text FROM dead_letters ORDER BY id")
    return [{"reason": r["reason"], **orjson.loads(r["event"])} for r in rows]


async def test_an_event_jsonb_refuses_even_as_a_dead_letter_is_kept_escaped(
    pool: asyncpg.Pool,
) -> None:
    # Past validation, a \u0000 in attrs: jsonb refuses the row, and the event as a document.
    attrs = '{"k\\u0000": "v\\u0000"}'
    batch_writer = await write(pool, good("a", "b"), raw_parcel(row("bad", attrs=attrs)), good("c"))
    assert await stored(pool) == ["a", "b", "c"]
    (letter,) = await dead(pool)
    assert "UntranslatableCharacterError" in letter["reason"]
    assert letter["kind"] == "log" and letter["escaped"].isascii()
    assert json.loads(letter["escaped"])["attrs"] == attrs  # nothing lost
    assert json.loads(letter["escaped"])["message"] == "bad"
    assert (batch_writer.stats.dead_lettered, batch_writer.stats.dropped) == (1, 0)


async def test_a_surrogate_past_validation_is_dead_lettered_escaped(pool: asyncpg.Pool) -> None:
    # A str made in Python may hold a lone surrogate: no UTF-8, neither for COPY nor for orjson.
    batch_writer = await write(pool, good("a"), raw_parcel(row("bad \ud800")), good("c"))
    assert await stored(pool) == ["a", "c"]
    (letter,) = await dead(pool)
    assert json.loads(letter["escaped"])["message"] == "bad \ud800"
    assert batch_writer.stats.dead_lettered == 1


async def test_a_refusal_of_no_known_kind_is_tried_then_dead_lettered(pool: asyncpg.Pool) -> None:
    # A trigger's RAISE (P0001) is none of the states sorted: it was retried for good.
    await pool.execute(
        """CREATE FUNCTION no_poison() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
               IF NEW.message LIKE 'poison%' THEN RAISE EXCEPTION 'no poison'; END IF;
               RETURN NEW;
           END $$;
           CREATE TRIGGER no_poison BEFORE INSERT ON logs_default
               FOR EACH ROW EXECUTE FUNCTION no_poison();"""
    )
    now = datetime.now(UTC).replace(year=2001)  # into logs_default, whatever today's partition
    events = [{"message": m, "ts": now.isoformat()} for m in ("a", "poison", "b", "c")]
    batch = Parcel([parse_event(e, now, Limits()) for e in events], 1)
    batch_writer = await write(pool, batch)
    assert await stored(pool) == ["a", "b", "c"]
    (letter,) = await dead(pool)
    assert "no poison" in letter["reason"] and letter["message"] == "poison"
    assert batch_writer.stats.dead_lettered == 1


async def test_an_event_dead_letters_refuse_in_every_form_is_dropped_and_counted(
    server: Served,
) -> None:
    await server.db.execute(
        """ALTER TABLE logs ADD CONSTRAINT no_poison CHECK (message NOT LIKE 'poison%');
           ALTER TABLE dead_letters ADD CONSTRAINT no_poison CHECK (event::text NOT LIKE '%poi%')"""
    )
    body = [{"message": m} for m in ("a", "poison", "b")]
    async with server.http.post("v1/events?wait=commit", data=orjson.dumps(body)) as answer:
        assert answer.status == 200
    assert await stored(server.db) == ["a", "b"]
    assert await dead(server.db) == []
    metrics = await scrape(server)
    assert metrics["ingestd_events_dropped"] == 1
    assert metrics["ingestd_events_pending"] == 0
    assert metrics["ingestd_events_accepted"] == (
        metrics["ingestd_events_committed"]
        + metrics["ingestd_events_dead_lettered"]
        + metrics["ingestd_events_dropped"]
    )


async def test_a_run_event_with_a_nul_in_every_key_and_value_is_stored_cleaned(
    pool: asyncpg.Pool,
) -> None:
    run_id = str(uuid.uuid4())
    nul = "n\x00"
    event = {"kind": "run", "run_id": run_id, "job": nul, "step": nul, "trigger": nul,
             "counters": {nul: 1}, "attrs": {nul: {nul: [nul]}}, "result": {nul: nul},
             "error": {"message": nul, nul: nul}}  # fmt: skip
    log = {"message": nul, "run_id": run_id, "event_id": nul, "level": "error",
           "attrs": {nul: nul}, "source": {nul: nul}, "error": {"type": nul, nul: nul}}  # fmt: skip
    now = datetime.now(UTC)
    batch_writer = await write(
        pool, Parcel([parse_event(e, now, Limits()) for e in (event, log)], 1)
    )
    assert (batch_writer.stats.committed, batch_writer.stats.dead_lettered) == (2, 0)
    run = await pool.fetchrow(
        "SELECT job, step, trigger, counters::text, attrs::text, result::text, error::text"
        " FROM runs WHERE run_id = $1",
        uuid.UUID(run_id),
    )
    assert run is not None
    clean = "n\ufffd"
    assert (run["job"], run["step"], run["trigger"]) == (clean, clean, clean)
    assert orjson.loads(run["counters"]) == {clean: 1}
    assert orjson.loads(run["attrs"]) == {clean: {clean: [clean]}}
    assert orjson.loads(run["result"]) == {clean: clean}
    assert orjson.loads(run["error"]) == {"message": clean, clean: clean}
    line = await pool.fetchrow(
        "SELECT message, event_id, attrs::text, source::text, error::text FROM logs"
    )
    assert line is not None
    assert (line["message"], line["event_id"]) == (clean, clean)
    assert orjson.loads(line["attrs"]) == orjson.loads(line["source"]) == {clean: clean}
    assert orjson.loads(line["error"]) == {"type": clean, clean: clean}


def test_in_spool_mode_the_nul_event_is_stored_once_and_stays_so_after_a_restart(
    ingestd_factory: Callable[..., IngestdProcess],
) -> None:
    # Issue 13.1 in spool mode: the event that stopped the writer came back at every start.
    served = ingestd_factory({"INGESTD_DURABILITY": "spool", "INGESTD_COMMIT_WAIT_S": "10"})
    run_id = str(uuid.uuid4())
    bad = b'{"kind":"run","run_id":"%s","job":"x","counters":{"\\u0000":1}}' % run_id.encode()
    assert request(served, bad, JSON, "/v1/events")[0] == 202
    assert request(served, one({"message": "good"}), JSON, "/v1/events?wait=commit")[0] == 200
    assert served.stop() == 0
    served.start()  # waits until ready: the spool is replayed and the writer is healthy
    assert request(served, one({"message": "after"}), JSON, "/v1/events?wait=commit")[0] == 200
    (run,) = served.query("SELECT counters::text FROM runs WHERE run_id = $1", uuid.UUID(run_id))
    assert orjson.loads(run["counters"]) == {"\ufffd": 1}
    assert served.query("SELECT count(*) AS n FROM dead_letters") == [{"n": 0}]
    assert served.query("SELECT count(*) AS n FROM logs") == [{"n": 2}]
