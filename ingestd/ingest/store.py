"""One batch into PostgreSQL, in one transaction: idempotency keys, event ids, runs, logs.

Log rows go in with binary COPY. Run events are folded in Python (run_changes.py: one
change per run per batch, in the order received) and merged into runs with two set-based
statements.

Two ways to write a batch, with the same outcome:
- write(): everything in one go. Duplicates are dropped before the COPY.
- stage(), copy_logs(), then finish(): the COPY first, while the batch before is still being
  committed (the writer keeps two in flight), then, in the batch's turn, what must happen
  in order: keys, event ids, run merges, checkpoints. A batch that turns out to repeat
  something stored before raises Duplicates; the writer rolls it back and uses write().
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from ingestd.db.database import Conn
from ingestd.ingest import sql as queries
from ingestd.ingest.events import (
    EVENT_ID,
    JOB,
    LOG_COLUMNS,
    RUN_ID,
    LogRow,
    RunEvent,
    in_run,
    with_column,
)
from ingestd.ingest.parcel import Parcel
from ingestd.ingest.run_changes import RunChange, fold_runs


@dataclass(slots=True)
class WriteResult:
    committed: int = 0
    duplicates: int = 0
    #: The log rows written (job filled in from their run), for live tail subscribers.
    logs: list[LogRow] = field(default_factory=list)
    #: run_id -> job of the batch's runs that have one.
    jobs: dict[str, str] = field(default_factory=dict)


class Duplicates(Exception):
    """A staged batch holds events stored before; write() drops them."""


@dataclass(slots=True)
class Staged:
    """A batch whose log rows are COPYed in an open transaction, waiting for its turn."""

    parcels: list[Parcel]
    logs: list[LogRow]
    run_events: list[RunEvent]
    #: Runs some of whose rows went in with no job: their run's job is filled in later.
    without_job: set[str]
    #: The (run_id, event_id) of rows that have one.
    event_keys: list[tuple[str, str]]


async def _apply_runs(
    conn: Conn, changes: dict[str, RunChange], without_job: set[str] | None = None
) -> dict[str, str]:
    """Create and update the batch's runs; returns run_id -> job for runs that have one.
    Logs stored with no job take their run's job once it has one: the run's earlier logs
    when it is named late, and the rows of `without_job` runs."""
    ids = list(changes)
    values = list(changes.values())
    await conn.execute(
        queries.CREATE_MISSING_RUNS,
        ids,
        [c.job or c.job_hint for c in values],
        [c.started_at or c.first_ts for c in values],
        [c.last_ts for c in values],
    )
    counts = list(zip(*(c.log_counts for c in values), strict=True))
    rows = await conn.fetch(
        queries.APPLY_RUN_CHANGES,
        ids,
        [c.job for c in values],
        [c.job_hint for c in values],
        [c.status for c in values],
        [c.trigger for c in values],
        [c.started_at for c in values],
        [c.finished_at for c in values],
        [c.status_ts for c in values],
        [c.progress for c in values],
        [c.step for c in values],
        [orjson.dumps(c.counters).decode() for c in values],
        [c.result for c in values],
        [c.error for c in values],
        [orjson.dumps(c.attrs).decode() for c in values],
        *(list(column) for column in counts),
        [c.last_ts for c in values],
        [c.seq_max for c in values],
        [c.seq_count for c in values],
    )
    jobs = {r["run_id"]: r["job"] for r in rows if r["job"] is not None}
    backfill = {r["run_id"] for r in rows if r["job"] is not None and r["job_was_null"]}
    if without_job:
        backfill.update(run_id for run_id in without_job if run_id in jobs)
    if backfill:
        ids = sorted(backfill)
        await conn.execute(queries.BACKFILL_LOG_JOBS, ids, [jobs[i] for i in ids])
    return jobs


def _event_keys(logs: list[LogRow]) -> tuple[dict[tuple[str, str], int], list[bool]]:
    """(run_id, event_id) -> index of its first row, and which rows are not repeats."""
    keyed: dict[tuple[str, str], int] = {}
    keep = []
    for index, row in enumerate(logs):
        event_id = row[EVENT_ID]
        if event_id is None:
            keep.append(True)
            continue
        key = (row[RUN_ID], event_id)
        keep.append(key not in keyed)
        keyed.setdefault(key, index)
    return keyed, keep


async def _record_event_ids(conn: Conn, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Record the keys; returns those not stored before."""
    fresh = await conn.fetch(queries.RECORD_EVENT_IDS, [k[0] for k in keys], [k[1] for k in keys])
    return {(r["run_id"], r["event_id"]) for r in fresh}


async def _record_keys(conn: Conn, parcels: list[Parcel]) -> set[str]:
    """Record the parcels' idempotency keys; returns those not stored before."""
    rows = await conn.fetch(
        queries.RECORD_IDEMPOTENCY_KEYS,
        [p.idempotency_key for p in parcels],
        [p.response.decode() for p in parcels],
    )
    return {r["key"] for r in rows}


async def _drop_seen_event_ids(conn: Conn, logs: list[LogRow]) -> list[LogRow]:
    """Keep the first of each (run_id, event_id), and none already stored."""
    keyed, keep = _event_keys(logs)
    if keyed:
        fresh = await _record_event_ids(conn, list(keyed))
        for key, index in keyed.items():
            if key not in fresh:
                keep[index] = False
    return [row for row, kept in zip(logs, keep, strict=True) if kept]


def _split_events(parcels: list[Parcel]) -> tuple[list[LogRow], list[RunEvent]]:
    logs: list[LogRow] = []
    run_events: list[RunEvent] = []
    for parcel in parcels:
        for event in parcel.events:
            if type(event) is tuple:
                logs.append(event)
            else:
                run_events.append(event)  # type: ignore[arg-type]
    return logs, run_events


async def write(conn: Conn, parcels: list[Parcel], *, retry: bool = False) -> WriteResult:
    """Write the parcels in one transaction; raises asyncpg errors untouched. Only a retry
    can find its parcels already committed (the first attempt's outcome was unknown)."""
    result = WriteResult()
    async with conn.transaction():
        if retry:
            parcels = await _skip_committed(conn, parcels, result)
        keys = _unrecorded_keys(parcels)
        if keys:
            recorded = await _record_keys(conn, keys)
            duplicate = {id(p) for p in keys if p.idempotency_key not in recorded}
            if duplicate:
                result.duplicates += sum(len(p.events) for p in parcels if id(p) in duplicate)
                parcels = [p for p in parcels if id(p) not in duplicate]
        logs, run_events = _split_events(parcels)
        if any(row[EVENT_ID] is not None for row in logs):
            before = len(logs)
            logs = await _drop_seen_event_ids(conn, logs)
            result.duplicates += before - len(logs)
        changes = fold_runs(run_events, logs)
        if changes:
            result.jobs = await _apply_runs(conn, changes)
            if result.jobs:
                logs = [_with_job(row, result.jobs) for row in logs]
        await copy_logs(conn, logs)
        await _save_checkpoints(conn, parcels)
        result.committed = len(logs) + len(run_events)
        result.logs = logs
    return result


async def stage(conn: Conn, parcels: list[Parcel], known_jobs: dict[str, str]) -> Staged:
    """In the caller's open transaction: the batch's log rows, ready to COPY. Their job, when
    they name none, comes from the batch's run events, `known_jobs` (runs written before) or
    the runs table; a run whose job is not known yet gets it in finish()."""
    logs, run_events = _split_events(parcels)
    keyed, keep = _event_keys(logs)
    if not all(keep):
        raise Duplicates("events repeat an event_id within the batch")
    logs, without_job = await _fill_jobs(conn, logs, run_events, known_jobs)
    return Staged(parcels, logs, run_events, without_job, list(keyed))


async def copy_logs(conn: Conn, logs: list[LogRow]) -> None:
    if logs:
        await conn.copy_records_to_table("logs", records=logs, columns=LOG_COLUMNS)


async def finish(conn: Conn, staged: Staged) -> WriteResult:
    """In the batch's turn, in the transaction stage() began: what must happen in order."""
    keys = _unrecorded_keys(staged.parcels)
    if keys and len(await _record_keys(conn, keys)) < len(keys):
        raise Duplicates("a request's Idempotency-Key was stored before")
    keyed = staged.event_keys
    if keyed and len(await _record_event_ids(conn, keyed)) < len(keyed):
        raise Duplicates("an event_id was stored before")
    result = WriteResult(committed=len(staged.logs) + len(staged.run_events), logs=staged.logs)
    changes = fold_runs(staged.run_events, staged.logs)
    if changes:
        result.jobs = await _apply_runs(conn, changes, staged.without_job)
        if staged.without_job and result.jobs:
            result.logs = [_with_job(row, result.jobs) for row in staged.logs]
    await _save_checkpoints(conn, staged.parcels)
    return result


def _unrecorded_keys(parcels: list[Parcel]) -> list[Parcel]:
    return [p for p in parcels if p.idempotency_key is not None and not p.key_recorded]


async def _fill_jobs(
    conn: Conn, logs: list[LogRow], run_events: list[RunEvent], known_jobs: dict[str, str]
) -> tuple[list[LogRow], set[str]]:
    """Rows that name a run but no job take the run's job where it is known for sure (as
    runs.job is merged: the batch's run events first, then what the run has)."""
    missing = {row[RUN_ID] for row in logs if row[JOB] is None and in_run(row)}
    if not missing:
        return logs, set()
    jobs = {e.run_id: e.job for e in run_events if e.job is not None and e.run_id in missing}
    for run_id in missing - jobs.keys():
        job = known_jobs.get(run_id)
        if job is not None:
            jobs[run_id] = job
    unknown = list(missing - jobs.keys())
    if unknown:
        for r in await conn.fetch(queries.RUN_JOBS, unknown):
            if r["job"] is not None:
                jobs[r["run_id"]] = r["job"]
    return [_with_job(row, jobs) for row in logs], missing - jobs.keys()


async def uncommitted(conn: Conn, parcels: list[Parcel]) -> list[Parcel]:
    """The parcels not committed yet (an attempt that failed may have committed them)."""
    async with conn.transaction():
        return await _skip_committed(conn, parcels, WriteResult())


async def _skip_committed(conn: Conn, parcels: list[Parcel], result: WriteResult) -> list[Parcel]:
    """Drop parcels a previous attempt (or process) already committed."""
    origins = list({p.origin for p in parcels if p.origin})
    if not origins:
        return parcels
    done = {r["writer_id"]: r["position"] for r in await conn.fetch(queries.CHECKPOINTS, origins)}
    if not done:
        return parcels
    kept = []
    for parcel in parcels:
        if parcel.seq <= done.get(parcel.origin, -1):
            result.duplicates += len(parcel.events)
        else:
            kept.append(parcel)
    return kept


async def _save_checkpoints(conn: Conn, parcels: list[Parcel]) -> None:
    marks: dict[str, int] = {}
    for parcel in parcels:
        if parcel.origin and parcel.checkpoint:
            marks[parcel.origin] = max(marks.get(parcel.origin, 0), parcel.seq)
    if marks:
        await conn.execute(queries.SAVE_CHECKPOINTS, list(marks), list(marks.values()))


async def spool_checkpoint(conn: Conn, spool_id: str) -> int:
    position: int | None = await conn.fetchval(queries.SPOOL_CHECKPOINT, spool_id)
    return position or 0


def _with_job(row: LogRow, jobs: dict[str, str]) -> LogRow:
    """A log that names a run but no job takes the run's job."""
    if row[JOB] is not None:
        return row
    job = jobs.get(row[RUN_ID])
    if job is None:
        return row
    return with_column(row, JOB, job)


async def existing_keys(conn: Conn, keys: list[str]) -> set[str]:
    rows = await conn.fetch(queries.EXISTING_IDEMPOTENCY_KEYS, keys)
    return {r["key"] for r in rows}
