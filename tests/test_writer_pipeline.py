"""The writer with two batches in flight: the second COPYs while the first commits, and what
must happen in order (run merges, duplicates, checkpoints) still does."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
import pytest
from asyncpg.exceptions._base import InternalClientError

from ingestd.ingest import writer
from ingestd.ingest.events import Limits, parse_event
from ingestd.ingest.parcel import Parcel
from ingestd.ingest.queue import IngestQueue
from ingestd.ingest.writer import BatchWriter
from tests.faulty_pool import BreaksAfterCommit
from tests.writer_helpers import pool

__all__ = ["pool"]  # the fixture

PARCELS = 12
LOGS_PER_PARCEL = 200


def parcel(*events: dict[str, Any]) -> Parcel:
    now = datetime.now(UTC)
    parsed = [parse_event(e, now, Limits()) for e in events]
    return Parcel(parsed, 100 * len(parsed))


async def write_all(pool: asyncpg.Pool, parcels: list[Parcel]) -> BatchWriter:
    """Queue every parcel first, so each batch (one parcel) is taken while the one before is
    still in flight; then write them all with two connections."""
    queue = IngestQueue(10**6, 10**9)
    for p in parcels:
        await queue.put(p)
    queue.close()
    batch_writer = BatchWriter(
        pool, queue, batch_max_events=1, batch_max_wait_s=0, max_backoff_s=0.1, connections=2
    )
    await asyncio.wait_for(batch_writer.run(), 60)
    return batch_writer


def log(run_id: str, i: int, **extra: Any) -> dict[str, Any]:
    return {"run_id": run_id, "message": f"line {i}", "level": "info", **extra}


async def test_run_changes_apply_in_the_order_sent_when_batches_overlap(
    pool: asyncpg.Pool,
) -> None:
    run_id = str(uuid.uuid4())
    parcels = [parcel({"kind": "run", "run_id": run_id, "job": "import", "status": "running"})]
    for n in range(1, PARCELS):
        step = {"kind": "run", "run_id": run_id, "step": f"step-{n}", "progress": n,
                "counters": {"done": n, f"seen_{n}": 1}}  # fmt: skip
        parcels.append(parcel(step, *(log(run_id, n * 1000 + i) for i in range(LOGS_PER_PARCEL))))
    parcels.append(parcel({"kind": "run", "run_id": run_id, "status": "success"}))

    batch_writer = await write_all(pool, parcels)

    assert batch_writer.stats.staged > 0, "no batch took the staged path"
    run = await pool.fetchrow("SELECT * FROM runs WHERE run_id = $1", uuid.UUID(run_id))
    assert run is not None
    last = PARCELS - 1
    assert (run["status"], run["step"], run["progress"]) == ("success", f"step-{last}", last)
    counters = orjson.loads(run["counters"])
    assert counters["done"] == last and all(counters[f"seen_{n}"] == 1 for n in range(1, PARCELS))
    assert run["n_info"] == last * LOGS_PER_PARCEL
    rows = await pool.fetchval("SELECT count(*) FROM logs WHERE job = 'import'")
    assert rows == last * LOGS_PER_PARCEL, "logs naming only their run take its job"
    stored = [r["message"] for r in await pool.fetch("SELECT message FROM logs ORDER BY id")]
    sent = [e[6] for p in parcels for e in p.events if type(e) is tuple]
    assert stored == sent, "log ids keep the order events came in"


async def test_staged_rows_of_a_run_named_later_in_the_batch_get_its_job(
    pool: asyncpg.Pool,
) -> None:
    first, fresh = str(uuid.uuid4()), str(uuid.uuid4())
    parcels = [parcel(log(first, 0, job="warmup"))]
    # Taken while the first is in flight: the run is new and only one line names the job.
    parcels.append(parcel(*(log(fresh, i) for i in range(50)), log(fresh, 50, job="etl")))
    batch_writer = await write_all(pool, parcels)
    assert batch_writer.stats.staged == 1
    jobs = await pool.fetch(
        "SELECT job, count(*) FROM logs WHERE run_id = $1 GROUP BY job", uuid.UUID(fresh)
    )
    assert [(r["job"], r["count"]) for r in jobs] == [("etl", 51)]


async def test_a_staged_batch_repeating_a_stored_event_is_written_without_it(
    pool: asyncpg.Pool,
) -> None:
    run_id = str(uuid.uuid4())
    await write_all(pool, [parcel(log(run_id, 0, event_id="e-0"))])
    parcels = [parcel(log(run_id, 1, event_id="e-1"))]
    parcels.append(parcel(log(run_id, 0, event_id="e-0"), log(run_id, 2, event_id="e-2")))

    batch_writer = await write_all(pool, parcels)

    assert batch_writer.stats.unstaged == 1 and batch_writer.stats.duplicates == 1
    ids = await pool.fetch("SELECT event_id FROM logs ORDER BY event_id")
    assert [r["event_id"] for r in ids] == ["e-0", "e-1", "e-2"]
    run = await pool.fetchrow("SELECT n_info FROM runs WHERE run_id = $1", uuid.UUID(run_id))
    assert run is not None and run["n_info"] == 3


async def test_a_staged_batch_stops_waiting_for_a_stuck_turn_and_loses_nothing(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "TURN_WAIT_S", 0.2)
    run_id = str(uuid.uuid4())
    await write_all(pool, [parcel({"kind": "run", "run_id": run_id, "job": "j"})])
    parcels = [parcel({"kind": "run", "run_id": run_id, "step": "first"}, log(run_id, 1))]
    parcels.append(parcel({"kind": "run", "run_id": run_id, "step": "second"}, log(run_id, 2)))
    async with pool.acquire() as blocker, blocker.transaction():
        # The first batch's run merge waits for this lock: its turn lasts past TURN_WAIT_S.
        await blocker.execute("SELECT 1 FROM runs WHERE run_id = $1 FOR UPDATE", uuid.UUID(run_id))
        writing = asyncio.create_task(write_all(pool, parcels))
        await asyncio.sleep(1.0)
    batch_writer = await writing

    assert batch_writer.stats.unstaged == 1
    run = await pool.fetchrow("SELECT step, n_info FROM runs WHERE run_id = $1", uuid.UUID(run_id))
    assert run is not None
    assert (run["step"], run["n_info"]) == ("second", 2)
    assert await pool.fetchval("SELECT count(*) FROM logs") == 2


async def write_one(faulty: BreaksAfterCommit, one: Parcel) -> BatchWriter:
    """Write one parcel as one batch, on one connection at a time, through `faulty`."""
    queue = IngestQueue(10**6, 10**9)
    await queue.put(one)
    queue.close()
    batch_writer = BatchWriter(
        faulty,  # type: ignore[arg-type]
        queue,
        batch_max_events=100,
        batch_max_wait_s=0,
        max_backoff_s=0.1,
    )
    await asyncio.wait_for(batch_writer.run(), 60)
    return batch_writer


CONFUSED = InternalClientError("cannot switch to state 15; another operation is in progress")


@pytest.mark.parametrize(
    ("where", "error", "written_by"),
    [
        ("release", CONFUSED, "the attempt"),  # known to be committed
        ("commit", CONFUSED, "a retry"),  # a connection error: the retry finds it committed
        ("commit", RuntimeError("unclassified"), "the check"),  # before isolating it
    ],
)
async def test_a_batch_whose_connection_breaks_after_commit_is_stored_once(
    pool: asyncpg.Pool, where: str, error: Exception, written_by: str
) -> None:
    run_id = str(uuid.uuid4())
    faulty = BreaksAfterCommit(pool, where, error)
    batch_writer = await write_one(faulty, parcel(*(log(run_id, i) for i in range(4))))
    assert faulty.broken
    lines = await pool.fetch("SELECT message FROM logs WHERE run_id = $1", uuid.UUID(run_id))
    assert sorted(r["message"] for r in lines) == [f"line {i}" for i in range(4)]
    assert await pool.fetchval("SELECT count(*) FROM dead_letters") == 0
    stats = batch_writer.stats
    # Counted as committed when the attempt knows it was; else found committed (duplicates).
    assert (stats.committed, stats.duplicates, stats.db_errors) == {
        "the attempt": (4, 0, 0),
        "a retry": (0, 4, 1),
        "the check": (0, 4, 0),
    }[written_by]


async def test_a_piece_of_a_cut_batch_written_twice_is_stored_once(pool: asyncpg.Pool) -> None:
    # A bad row makes the writer cut its batch in pieces; the first piece commits, but its
    # connection fails right after the COMMIT, so the piece is written again. Pieces do not
    # move the checkpoint (it would skip the rest): what recognises the piece is elsewhere.
    await pool.execute("ALTER TABLE logs ADD CONSTRAINT no_poison CHECK (message <> 'poison')")
    run_id = str(uuid.uuid4())
    lines = [
        log(run_id, 0),
        log(run_id, 1),
        log(run_id, 2),
        {**log(run_id, 3), "message": "poison"},
    ]
    faulty = BreaksAfterCommit(pool, "commit", CONFUSED)
    await write_one(faulty, parcel(*lines))
    assert faulty.broken
    stored = await pool.fetch("SELECT message FROM logs WHERE run_id = $1", uuid.UUID(run_id))
    assert sorted(r["message"] for r in stored) == ["line 0", "line 1", "line 2"]
    (dead,) = await pool.fetch("SELECT event::text FROM dead_letters")
    assert "poison" in dead["event"] and "ingestd-piece" not in dead["event"]  # as it was sent
    run = await pool.fetchrow("SELECT n_info FROM runs WHERE run_id = $1", uuid.UUID(run_id))
    assert run is not None and run["n_info"] == 3
