"""SQL of GET /v1/runs/{id}/compare (read/compare_api.py).

Every query is bounded: one run's (or two runs') lines by the primary key (run_id, ...),
and a job's runs newest first from runs_job_window_idx.
"""

from __future__ import annotations

from ingestd.ingest.sql import RUN_COLUMNS

# The job's last success that started before the run (ties on started_at broken by run_id).
COMPARE_LAST_SUCCESS = f"""
SELECT {RUN_COLUMNS} FROM runs
WHERE job = $1 AND status IN ('success', 'warning') AND (started_at, run_id) < ($2, $3::uuid)
ORDER BY runs.started_at DESC, runs.run_id DESC LIMIT 1
"""
# The window of the job's usual ranges: its newest successful runs that started before the
# run (a backward walk of runs_job_window_idx from the run's place), so an old run is not
# judged by what came after it (its fix, a new version). COMPARE_USUAL_ANY is the fallback
# for a job's first runs, with no success before them: its newest, the run itself left out.
# small_attrs: attrs of over 300 bytes as text (rare) do not count towards the usual values.
_USUAL_COLUMNS = """
SELECT duration_ms, counters::text AS counters, small_attrs::text AS attrs, n_trace, n_debug,
       n_info, n_success, n_warning, n_error, n_critical
FROM runs"""
COMPARE_USUAL_BEFORE = f"""{_USUAL_COLUMNS}
WHERE job = $1 AND status IN ('success', 'warning') AND (started_at, run_id) < ($2, $3::uuid)
ORDER BY runs.started_at DESC, runs.run_id DESC LIMIT $4
"""
COMPARE_USUAL_ANY = f"""{_USUAL_COLUMNS}
WHERE job = $1 AND status IN ('success', 'warning') AND run_id <> $2::uuid
ORDER BY runs.started_at DESC, runs.run_id DESC LIMIT $3
"""
# The lines of one or two runs, read once: per run, how many; per run and step, its first
# and last line; per run and error fingerprint, how many lines and the newest as the sample.
# {lines} is COMPARE_RUN_LINES once per run (UNION ALL), each with its own time span, so
# each reads only the daily partitions of its run's time, by the primary key (run_id, ts).
COMPARE_RUN_LINES = """
    SELECT run_id, ts, id, step, levelno, fingerprint, message, error
    FROM logs WHERE run_id = {run}::uuid"""
COMPARE_SPAN = " AND ts >= {low} AND ts <= {high}"
COMPARE_LINES = """
WITH lines AS MATERIALIZED ({lines}
)
SELECT 'total' AS kind, run_id::text, NULL AS step, NULL AS fingerprint, count(*) AS n,
       NULL::timestamptz AS first_at, NULL::timestamptz AS last_at, NULL AS message,
       NULL AS error
FROM lines
GROUP BY run_id
UNION ALL
SELECT 'step', run_id::text, step, NULL, count(*), min(ts), max(ts), NULL, NULL
FROM lines WHERE step IS NOT NULL
GROUP BY run_id, step
UNION ALL
SELECT 'error', run_id::text, step, fingerprint, n, NULL, NULL, message, error::text
FROM (
    SELECT run_id, step, fingerprint, message, error, count(*) OVER same AS n,
           row_number() OVER (same ORDER BY ts DESC, id DESC) AS nth
    FROM lines WHERE levelno >= 40
    WINDOW same AS (PARTITION BY run_id, fingerprint)
) AS errors
WHERE nth = 1
"""
