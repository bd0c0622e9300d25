"""SQL of the read side, as named constants and fixed fragments.

Filters are assembled from the fragments below by `Where`, which numbers their `$?`
placeholders; values only ever travel as parameters.
"""

from __future__ import annotations

from typing import Any

from ingestd.ingest.sql import RUN_COLUMNS

FINAL = "('success', 'warning', 'failed', 'cancelled', 'timed_out')"
FAILED = "('failed', 'timed_out')"


class Where:
    """A WHERE clause built from fixed fragments; `$?` in a fragment takes the next number."""

    def __init__(self, first_param: int = 1) -> None:
        self.clauses: list[str] = []
        self.args: list[Any] = []
        self._next = first_param

    def add(self, fragment: str, *values: Any) -> None:
        parts = fragment.split("$?")
        if len(parts) != len(values) + 1:
            raise ValueError(f"fragment {fragment!r} takes {len(parts) - 1} values")
        text = parts[0]
        for value, rest in zip(values, parts[1:], strict=True):
            text += f"${self._next}{rest}"
            self._next += 1
            self.args.append(value)
        self.clauses.append(text)

    def copy(self) -> Where:
        other = Where()
        other.clauses, other.args, other._next = list(self.clauses), list(self.args), self._next
        return other

    def param(self, value: Any) -> str:
        """A placeholder for a value used outside the WHERE clause (LIMIT, ...)."""
        self.args.append(value)
        self._next += 1
        return f"${self._next - 1}"

    @property
    def sql(self) -> str:
        return "WHERE " + " AND ".join(self.clauses) if self.clauses else ""


# --- runs ------------------------------------------------------------------------------------

RUN_JOB = "job = $?"
RUN_STATUS = "status = ANY($?::text[])"
RUN_TRIGGER = "trigger = ANY($?::text[])"
RUN_SINCE = "started_at >= $?"
RUN_UNTIL = "started_at < $?"
RUN_ATTR = "attrs @> $?::jsonb"
# One document per spelling of the value ("7" and 7); each arm can use the GIN index.
RUN_ATTR_EITHER = "(attrs @> $?::jsonb OR attrs @> $?::jsonb)"
RUN_BEFORE = "(started_at, run_id) < ($?, $?::uuid)"

# Qualified: RUN_COLUMNS names run_id::text "run_id", and an ORDER BY on that output column
# would sort text (an extra sort step) instead of walking the uuid index.
LIST_RUNS = f"""
SELECT {RUN_COLUMNS} FROM runs {{where}} ORDER BY runs.started_at DESC, runs.run_id DESC
"""

# --- logs ------------------------------------------------------------------------------------

LOG_COLUMNS = """
    id, ts, received_at, levelno, job, run_id::text, step, message, attrs::text, source::text,
    error::text, fingerprint, seq
"""
LOG_JOB = "job = $?"
LOG_RUN = "run_id = $?::uuid"
LOG_LEVELS = "levelno = ANY($?::smallint[])"
LOG_MIN_LEVEL = "levelno >= $?"
# The same with a constant the planner can see, so a generic plan may still use the
# error-only partial index; chosen when the minimum is error or above.
LOG_MIN_LEVEL_ERROR = "levelno >= 40 AND levelno >= $?"
LOG_STEP = "step = $?"
LOG_SINCE = "ts >= $?"
LOG_UNTIL = "ts < $?"
# q: the lower-cased term within the lower-cased message. That is what ILIKE '%term%' does
# under a non-C collation (it lowers both, then matches), without the pattern matcher or
# the escaping of % and _: a quarter to a third less time per line scanned (best of 7 over
# one day of the read benchmark: 84 against 119 ms).
LOG_SEARCH = "strpos(lower(message), lower($?::text)) > 0"
# PostgreSQL 17+ has a built-in UTF-8 collation whose case mapping is table-driven: lower()
# under it runs about twice as fast as under a libc locale. Used when the server has it.
LOG_SEARCH_FAST = "strpos(lower(message COLLATE pg_c_utf8), lower($?::text COLLATE pg_c_utf8)) > 0"
HAS_FAST_SEARCH = "SELECT lower('A' COLLATE pg_c_utf8)"
LOG_ATTR = "attrs @> $?::jsonb"
LOG_ATTR_EITHER = "(attrs @> $?::jsonb OR attrs @> $?::jsonb)"
LOG_FINGERPRINT = "levelno >= 40 AND fingerprint = $?"
# The plain `ts <= $?` lets the (ts) index bound the scan; the row comparison breaks ties.
LOG_BEFORE = "ts <= $? AND (ts, id) < ($?, $?)"
LOG_AFTER = "(ts, id) > ($?, $?)"

LIST_LOGS = f"SELECT {LOG_COLUMNS} FROM logs {{where}} ORDER BY ts DESC, id DESC"
LIST_RUN_LOGS = f"SELECT {LOG_COLUMNS} FROM logs {{where}} ORDER BY ts, id"

RUN_EXISTS = "SELECT 1 FROM runs WHERE run_id = $1"

# --- jobs ------------------------------------------------------------------------------------

# Every job with a run, found by skipping through runs_job_window_idx rather than reading
# every run, and every job with settings (PUT /v1/jobs/{job}), run or not: a scheduled job
# that never ran is the one to see. Its figures over the window (from that index alone),
# its latest run, and the status of its latest run that ended (health).
LIST_JOBS = f"""
WITH RECURSIVE run_names AS (
    (SELECT job FROM runs WHERE job IS NOT NULL ORDER BY job LIMIT 1)
    UNION ALL
    SELECT (SELECT r.job FROM runs r WHERE r.job > run_names.job ORDER BY r.job LIMIT 1)
    FROM run_names WHERE run_names.job IS NOT NULL
),
names AS (
    SELECT job FROM run_names WHERE job IS NOT NULL
    UNION
    SELECT job FROM jobs
),
figures AS (
    SELECT job, count(*) AS runs_total,
           count(*) FILTER (WHERE status IN ('success', 'warning')) AS succeeded_count,
           count(*) FILTER (WHERE status IN {FINAL} AND NOT missed) AS finished_count,
           count(*) FILTER (WHERE missed) AS missed_count,
           avg(duration_ms) FILTER (WHERE NOT missed) AS avg_duration_ms
    FROM runs WHERE started_at >= $1 GROUP BY job
)
SELECT names.job AS job_name, figures.runs_total, figures.succeeded_count, figures.finished_count,
       figures.missed_count, figures.avg_duration_ms, last_ended.status AS last_ended_status,
       monitored.health AS monitored_health, monitored.due_at AS monitored_due_at,
       monitored.every AS schedule_every, monitored.cron AS schedule_cron,
       monitored.timezone AS schedule_timezone, last.*
FROM names
LEFT JOIN figures ON figures.job = names.job
LEFT JOIN jobs AS monitored ON monitored.job = names.job
LEFT JOIN LATERAL (
    SELECT {RUN_COLUMNS} FROM runs
    WHERE runs.job = names.job ORDER BY runs.started_at DESC, runs.run_id DESC LIMIT 1
) AS last ON true
LEFT JOIN LATERAL (
    SELECT status FROM runs
    WHERE runs.job = names.job AND status IN ('success', 'warning', 'failed', 'timed_out')
    ORDER BY runs.started_at DESC, runs.run_id DESC LIMIT 1
) AS last_ended ON true
ORDER BY names.job
"""

# ?recent=N: each job's newest runs, from runs_job_window_idx alone (a backward scan per job).
RECENT_RUNS_PER_JOB = """
SELECT names.job, recent.run_id::text, recent.status, recent.started_at, recent.duration_ms,
       recent.missed
FROM unnest($1::text[]) AS names(job)
CROSS JOIN LATERAL (
    SELECT run_id, status, started_at, duration_ms, missed FROM runs
    WHERE runs.job = names.job ORDER BY runs.started_at DESC, runs.run_id DESC LIMIT $2
) AS recent
ORDER BY names.job, recent.started_at DESC, recent.run_id DESC
"""

# --- stats -----------------------------------------------------------------------------------
# Runs in a window are read from runs_job_window_idx alone. Durations are those of runs that
# finished (duration_ms is NULL until then; aggregates skip NULLs). Missed slots (runs.missed:
# the monitor's record of a run that never started) count apart, in n_missed_runs: not as
# failed runs, and not in durations, where their 0 ms would drag the figures down.

_RUN_COUNTS = """
    count(*) AS total_runs,
    count(*) FILTER (WHERE status = 'success') AS n_success_runs,
    count(*) FILTER (WHERE status = 'warning') AS n_warning_runs,
    count(*) FILTER (WHERE status = 'failed' AND NOT missed) AS n_failed_runs,
    count(*) FILTER (WHERE status = 'timed_out') AS n_timed_out_runs,
    count(*) FILTER (WHERE status = 'cancelled') AS n_cancelled_runs,
    count(*) FILTER (WHERE status = 'running') AS n_running_runs,
    count(*) FILTER (WHERE status = 'pending') AS n_pending_runs,
    count(*) FILTER (WHERE missed) AS n_missed_runs,
    avg(duration_ms) FILTER (WHERE NOT missed) AS avg_duration_ms,
    sum(n_trace) AS n_trace, sum(n_debug) AS n_debug, sum(n_info) AS n_info,
    sum(n_success) AS n_success, sum(n_warning) AS n_warning, sum(n_error) AS n_error,
    sum(n_critical) AS n_critical
"""
STATS_WINDOW = "started_at >= $?"
STATS_JOB = "job = $?"

STATS_SUMMARY = f"""
SELECT {_RUN_COUNTS},
       percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY duration_ms)
           FILTER (WHERE NOT missed) AS percentiles
FROM runs {{where}}
"""
# Runs with numbered lines missing (or numbered twice), from the partial runs_gaps_idx.
STATS_MISSING_LOGS = """
SELECT count(*) FROM runs {where} AND seq_count <> seq_max + 1
"""
STATS_RECENT_RUNS = f"""
SELECT {RUN_COLUMNS} FROM runs {{where}} ORDER BY runs.started_at DESC, runs.run_id DESC LIMIT 10
"""
# Per job in job order (runs_job_window_idx), so the percentiles need no sort by job name.
STATS_JOBS = f"""
SELECT job, {_RUN_COUNTS},
       percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY duration_ms)
           FILTER (WHERE NOT missed) AS percentiles
FROM runs {{where}}
GROUP BY job
ORDER BY job
"""

# Errors: logs of level error and above, which logs_errors_idx holds on its own (and, with
# attrs, logs_error_attrs_idx: every grouping is an index-only scan). Grouped per (key, run)
# first, so counting distinct runs is a hash aggregate, not a sort. The sample is looked up
# under the same WHERE as the groups: a group's newest line is in the window (and the job),
# and with the window bound the planner leaves out the older partitions instead of planning
# every one of them.
ERROR_KEYS = {
    "step": "step",
    "job": "job",
    "fingerprint": "fingerprint",
}
ERROR_ATTR_KEY = "attrs ->> {param}::text"
# Indexes carry attrs only up to this size as text (schema/007_bounded_index_attrs.sql): a
# query grouping by an attribute reads the rest, rare, from the table. Spelled as in the
# indexes' predicates, so the planner sees that they apply.
SMALL_ATTRS = "COALESCE(octet_length(attrs::text), 0) <= 300"
BIG_ATTRS = "octet_length(attrs::text) > 300"
# `pair_job` is the job when grouping by job and step together (by=job,step), else NULL.
ERROR_LINES = "(SELECT {key} AS key, {pair_job} AS pair_job, run_id, ts FROM logs {where}) AS lines"
ERROR_ATTR_LINES = f"""(
    SELECT {{key}} AS key, {{pair_job}} AS pair_job, run_id, ts
    FROM logs {{where}} AND {SMALL_ATTRS}
    UNION ALL
    SELECT {{key}} AS key, {{pair_job}} AS pair_job, run_id, ts
    FROM logs {{where}} AND {BIG_ATTRS}
) AS lines"""
# failed_runs: a group's runs among the failed and timed-out ones, which runs_failed_idx
# (schema/011) holds on its own: a few thousand ids hashed, not every run of the table.
STATS_ERRORS = f"""
WITH per_run AS (
    SELECT key, pair_job, run_id, count(*) AS n, min(ts) AS first_seen, max(ts) AS last_seen
    FROM {{lines}}
    GROUP BY 1, 2, 3
),
groups AS (
    SELECT key, pair_job, sum(n)::bigint AS error_count, count(*) AS affected_runs,
           count(failed.run_id) AS failed_runs,
           min(first_seen) AS first_seen, max(last_seen) AS last_seen
    FROM per_run
    LEFT JOIN (SELECT run_id FROM runs WHERE status IN {FAILED}) AS failed USING (run_id)
    GROUP BY key, pair_job
    ORDER BY error_count DESC, pair_job NULLS LAST, key NULLS LAST LIMIT {{limit}}
)
SELECT groups.*, sample.*
FROM groups
LEFT JOIN LATERAL (
    SELECT id AS sample_id, run_id::text AS sample_run_id, job AS sample_job,
           step AS sample_step, message AS sample_message, error::text AS sample_error
    FROM logs
    {{where}} AND ts = groups.last_seen AND {{key}} IS NOT DISTINCT FROM groups.key
        AND {{pair_job}} IS NOT DISTINCT FROM groups.pair_job
    LIMIT 1
) AS sample ON true
ORDER BY error_count DESC, pair_job NULLS LAST, key NULLS LAST
"""
ERRORS_WINDOW = "levelno >= 40 AND ts >= $?"
# A group's runs (GET /v1/stats/errors/runs): {key} = the group's key, or IS NULL.
ERRORS_KEY = "{key} = $?::text"
ERRORS_NO_KEY = "{key} IS NULL"
# Each run once, newest error first, with how many of the group's lines it holds. Lines
# outside any run (a per-job loose key) have no run to list: each candidate, newest first, is
# looked up in runs by primary key until the page is full (LIMIT 1 keeps the lookup a
# lookup; joined, the planner hashed all the runs of the table).
STATS_ERROR_RUNS = """
SELECT per_run.run_id::text AS run_id, run.job, run.status, run.started_at,
       per_run.error_count, per_run.last_seen
FROM (
    SELECT run_id, count(*) AS error_count, max(ts) AS last_seen
    FROM {lines}
    GROUP BY run_id
    ORDER BY last_seen DESC, run_id DESC
) AS per_run
CROSS JOIN LATERAL (
    SELECT job, status, started_at FROM runs WHERE runs.run_id = per_run.run_id LIMIT 1
) AS run
ORDER BY per_run.last_seen DESC, per_run.run_id DESC
LIMIT {limit}
"""


def error_lines(key: str, where: str, *, by_attr: bool, pair: bool = False) -> str:
    """The error lines under `where`, each with its group's key (SQL) and, paired, its job."""
    lines = ERROR_ATTR_LINES if by_attr else ERROR_LINES
    return lines.format(key=key, pair_job="job" if pair else "NULL::text", where=where)


def stats_errors(key: str, where: str, limit: str, *, by_attr: bool, pair: bool = False) -> str:
    """STATS_ERRORS grouping by `key` (SQL), and by job too if `pair`, under `where`."""
    lines = error_lines(key, where, by_attr=by_attr, pair=pair)
    pair_job = "job" if pair else "NULL::text"
    return STATS_ERRORS.format(lines=lines, key=key, pair_job=pair_job, where=where, limit=limit)


def stats_error_runs(key: str, where: str, limit: str, *, by_attr: bool) -> str:
    """STATS_ERROR_RUNS over the lines under `where` (which holds the group's key)."""
    return STATS_ERROR_RUNS.format(lines=error_lines(key, where, by_attr=by_attr), limit=limit)


# Runs with small attrs from runs_started_idx alone (its small_attrs), the others from the
# table. {key} is the parameter holding the attribute's name.
STATS_BY_ATTR = f"""
SELECT key,
       count(*) AS total,
       count(*) FILTER (WHERE status = 'success') AS success,
       count(*) FILTER (WHERE status IN {FAILED}) AS failed,
       count(*) FILTER (WHERE status = 'warning') AS warning,
       count(*) FILTER (WHERE status IN {FINAL}) AS finished,
       avg(duration_ms) AS avg_duration_ms
FROM (
    SELECT small_attrs ->> {{key}}::text AS key, status, duration_ms
    FROM runs {{where}} AND small_attrs ? {{key}}::text
    UNION ALL
    SELECT attrs ->> {{key}}::text AS key, status, duration_ms
    FROM runs {{where}} AND small_attrs IS NULL AND attrs ? {{key}}::text
) AS runs_with_key
GROUP BY 1
ORDER BY total DESC, key
LIMIT {{limit}}
"""

# Per bucket, the same figures as the summary (a run's logs count in the bucket where it
# started). Grouped by the bucket alone: a time sorts fast, a status name would not.
TIMESERIES = f"""
SELECT date_bin({{interval}}::interval, started_at, TIMESTAMPTZ '2000-01-03') AS bucket,
       {_RUN_COUNTS},
       percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY duration_ms)
           FILTER (WHERE NOT missed) AS percentiles
FROM runs {{where}}
GROUP BY 1
ORDER BY 1
"""

# --- admin -----------------------------------------------------------------------------------

LOG_PARTITIONS = """
SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'logs'::regclass
"""
DELETE_LOGS_BEFORE = "DELETE FROM logs WHERE ts < $1"
DELETE_LOGS_BEFORE_JOB = "DELETE FROM logs WHERE ts < $1 AND job = $2"
DELETE_RUNS_BEFORE = "DELETE FROM runs WHERE started_at < $1"
DELETE_RUNS_BEFORE_JOB = "DELETE FROM runs WHERE started_at < $1 AND job = $2"
