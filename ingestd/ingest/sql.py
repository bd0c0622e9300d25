"""SQL of the write path, as named constants. Every value is a parameter."""

from __future__ import annotations

FINAL = "('success', 'warning', 'failed', 'cancelled', 'timed_out')"

CHECKPOINTS = """
SELECT writer_id, position FROM writer_checkpoints WHERE writer_id = ANY($1::text[]) FOR UPDATE
"""

SAVE_CHECKPOINTS = """
INSERT INTO writer_checkpoints (writer_id, position)
SELECT * FROM unnest($1::text[], $2::bigint[])
ON CONFLICT (writer_id) DO UPDATE
SET position = GREATEST(writer_checkpoints.position, EXCLUDED.position), updated_at = now()
"""

SPOOL_CHECKPOINT = "SELECT position FROM writer_checkpoints WHERE writer_id = $1"

RECORD_IDEMPOTENCY_KEYS = """
INSERT INTO idempotency_keys (key, response)
SELECT * FROM unnest($1::text[], $2::jsonb[])
ON CONFLICT (key) DO NOTHING
RETURNING key
"""

EXISTING_IDEMPOTENCY_KEYS = "SELECT key FROM idempotency_keys WHERE key = ANY($1::text[])"

IDEMPOTENT_RESPONSE = "SELECT response::text FROM idempotency_keys WHERE key = $1"

RECORD_EVENT_IDS = """
INSERT INTO event_ids (run_id, event_id)
SELECT * FROM unnest($1::uuid[], $2::text[])
ON CONFLICT (run_id, event_id) DO NOTHING
RETURNING run_id::text, event_id
"""

# A run seen for the first time is created bare; the UPDATE below then applies the
# batch's changes to new and old runs alike, so there is one merge rule, not two.
CREATE_MISSING_RUNS = """
INSERT INTO runs (run_id, job, started_at, last_event_at)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::timestamptz[])
ON CONFLICT (run_id) DO NOTHING
"""

# A final status is never undone by a late non-final one, nor by a timed_out verdict (the
# monitor's, on a run it saw active: the run may have ended since, and its own end stands);
# a run's own end does replace a verdict, error included. finished_at comes with the first
# final status unless given; counters and attrs merge key by key; log counts and
# numbered lines (seq_count) add up.
_MOOT_VERDICT = f"r.status IN {FINAL} AND u.status = 'timed_out'"
_ENDS_A_VERDICT = f"r.status = 'timed_out' AND u.status IN {FINAL}"  # tested after the above
APPLY_RUN_CHANGES = f"""
UPDATE runs AS r SET
    job = COALESCE(u.job, r.job, u.job_hint),
    status = CASE
        WHEN u.status IS NULL OR {_MOOT_VERDICT} THEN r.status
        WHEN r.status IN {FINAL} AND u.status NOT IN {FINAL} THEN r.status
        ELSE u.status END,
    trigger = COALESCE(u.trigger, r.trigger),
    started_at = COALESCE(u.started_at, r.started_at),
    finished_at = CASE
        WHEN {_MOOT_VERDICT} THEN r.finished_at
        WHEN u.finished_at IS NOT NULL THEN u.finished_at
        WHEN {_ENDS_A_VERDICT} THEN u.status_ts
        WHEN r.finished_at IS NULL AND u.status IN {FINAL} THEN u.status_ts
        ELSE r.finished_at END,
    progress = COALESCE(u.progress, r.progress),
    step = COALESCE(u.step, r.step),
    counters = r.counters || u.counters,
    result = COALESCE(u.result, r.result),
    error = CASE
        WHEN {_MOOT_VERDICT} THEN r.error
        WHEN {_ENDS_A_VERDICT} THEN u.error
        ELSE COALESCE(u.error, r.error) END,
    attrs = r.attrs || u.attrs,
    n_trace = r.n_trace + u.n_trace,
    n_debug = r.n_debug + u.n_debug,
    n_info = r.n_info + u.n_info,
    n_success = r.n_success + u.n_success,
    n_warning = r.n_warning + u.n_warning,
    n_error = r.n_error + u.n_error,
    n_critical = r.n_critical + u.n_critical,
    last_event_at = GREATEST(r.last_event_at, u.last_ts),
    seq_max = GREATEST(r.seq_max, u.seq_max),
    seq_count = r.seq_count + u.seq_count,
    updated_at = now()
FROM unnest(
    $1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[],
    $7::timestamptz[], $8::timestamptz[], $9::real[], $10::text[], $11::jsonb[], $12::jsonb[],
    $13::jsonb[], $14::jsonb[], $15::int[], $16::int[], $17::int[], $18::int[], $19::int[],
    $20::int[], $21::int[], $22::timestamptz[], $23::int[], $24::int[]
) AS u(run_id, job, job_hint, status, trigger, started_at, finished_at, status_ts, progress,
       step, counters, result, error, attrs, n_trace, n_debug, n_info, n_success, n_warning,
       n_error, n_critical, last_ts, seq_max, seq_count),
    runs AS before
WHERE r.run_id = u.run_id AND before.run_id = u.run_id
RETURNING r.run_id::text, r.job, before.job IS NULL AS job_was_null
"""

# Logs written before their run's job was known get it once it is.
RUN_JOBS = "SELECT run_id::text, job FROM runs WHERE run_id = ANY($1::uuid[])"

BACKFILL_LOG_JOBS = """
UPDATE logs SET job = u.job
FROM unnest($1::uuid[], $2::text[]) AS u(run_id, job)
WHERE logs.run_id = u.run_id AND logs.job IS NULL
"""

DEAD_LETTER = """
INSERT INTO dead_letters (received_at, reason, event) VALUES ($1, $2, $3::jsonb)
"""

RUN_COLUMNS = """
    run_id::text, job, status, trigger, started_at, finished_at, duration_ms, progress, step,
    counters::text, result::text, error::text, attrs::text, n_trace, n_debug, n_info,
    n_success, n_warning, n_error, n_critical, last_event_at, seq_max, seq_count
"""

GET_RUN = f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id = $1"
