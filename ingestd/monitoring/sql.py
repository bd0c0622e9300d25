"""SQL of job settings, the monitor, alerts and retention, as named constants."""

from __future__ import annotations

FINAL = "('success', 'warning', 'failed', 'cancelled', 'timed_out')"
#: Statuses that say how a job is doing (cancelled says nothing about it).
ENDED = "('success', 'warning', 'failed', 'timed_out')"
ACTIVE = "('pending', 'running')"

# --- job settings ------------------------------------------------------------------------------

JOB_COLUMNS = """
    job, every, cron, timezone, grace, max_duration, heartbeat_timeout, alerts::text,
    anomaly::text, schedule_set_at, created_at, updated_at, health, health_since, due_at
"""

# schedule_set_at moves only when the schedule itself changes.
PUT_JOB = """
INSERT INTO jobs AS j (job, every, cron, timezone, grace, max_duration, heartbeat_timeout,
                       alerts, anomaly, schedule_set_at, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10, $10, $10)
ON CONFLICT (job) DO UPDATE SET
    every = EXCLUDED.every, cron = EXCLUDED.cron, timezone = EXCLUDED.timezone,
    grace = EXCLUDED.grace, max_duration = EXCLUDED.max_duration,
    heartbeat_timeout = EXCLUDED.heartbeat_timeout, alerts = EXCLUDED.alerts,
    anomaly = EXCLUDED.anomaly, updated_at = EXCLUDED.updated_at,
    schedule_set_at = CASE
        WHEN (j.every, j.cron, j.timezone)
             IS NOT DISTINCT FROM (EXCLUDED.every, EXCLUDED.cron, EXCLUDED.timezone)
        THEN j.schedule_set_at ELSE EXCLUDED.schedule_set_at END
RETURNING (xmax = 0) AS created
"""

GET_JOB = f"SELECT {JOB_COLUMNS} FROM jobs WHERE job = $1"
GET_JOBS = f"SELECT {JOB_COLUMNS} FROM jobs WHERE job = ANY($1::text[])"
DELETE_JOB = "DELETE FROM jobs WHERE job = $1"

JOB_LAST_ENDED = f"""
SELECT status FROM runs WHERE job = $1 AND status IN {ENDED}
ORDER BY started_at DESC, run_id DESC LIMIT 1
"""
JOB_HAS_RUNS = "SELECT EXISTS (SELECT 1 FROM runs WHERE job = $1)"

# --- the monitor -------------------------------------------------------------------------------

# Each job with settings, its latest start and the status of its latest run that ended;
# both through runs_job_started_idx.
MONITORED_JOBS = f"""
SELECT {JOB_COLUMNS}, last.started_at AS last_started_at, last.is_missed AS last_is_missed,
       ended.status AS last_ended_status
FROM jobs
LEFT JOIN LATERAL (
    SELECT started_at, attrs @> '{{"missed": true}}' AS is_missed FROM runs
    WHERE runs.job = jobs.job
    ORDER BY started_at DESC, run_id DESC LIMIT 1
) AS last ON true
LEFT JOIN LATERAL (
    SELECT status FROM runs WHERE runs.job = jobs.job AND status IN {ENDED}
    ORDER BY started_at DESC, run_id DESC LIMIT 1
) AS ended ON true
ORDER BY jobs.job
"""

SET_JOB_HEALTH = """
UPDATE jobs SET
    health_since = CASE WHEN jobs.health = u.health THEN jobs.health_since ELSE $4 END,
    health = u.health, due_at = u.due_at
FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS u(job, health, due_at)
WHERE jobs.job = u.job AND (jobs.health, jobs.due_at) IS DISTINCT FROM (u.health, u.due_at)
"""

ACTIVE_RUNS = f"""
SELECT run_id::text, job, started_at, last_event_at FROM runs
WHERE status IN {ACTIVE} AND job = ANY($1::text[])
"""

# Runs that reached a final status (or changed after it), in the order they changed.
FINISHED_SINCE = f"""
SELECT run_id::text, job, status, started_at, finished_at, duration_ms, counters::text,
       attrs::text, error::text, updated_at
FROM runs
WHERE status IN {FINAL} AND (updated_at, run_id) > ($1, $2::uuid) AND job IS NOT NULL
ORDER BY updated_at, run_id
LIMIT $3
"""

# The run and the ones that ended before it, newest first (streaks and recoveries).
ENDED_UP_TO = f"""
SELECT run_id::text, status, attrs @> '{{"missed": true}}' AS missed FROM runs
WHERE job = $1 AND status IN {ENDED} AND (started_at, run_id) <= ($2, $3::uuid)
ORDER BY started_at DESC, run_id DESC
LIMIT $4
"""

SUCCESS_HISTORY = """
SELECT duration_ms, counters::text FROM runs
WHERE job = $1 AND status = 'success' AND (started_at, run_id) < ($2, $3::uuid)
ORDER BY started_at DESC, run_id DESC
LIMIT $4
"""

GET_CURSOR = "SELECT value FROM monitor_state WHERE name = $1"
SET_CURSOR = """
INSERT INTO monitor_state (name, value) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET value = GREATEST(monitor_state.value, EXCLUDED.value),
                                 updated_at = now()
"""

# Every job seen in runs (skipping through runs_job_started_idx) or configured, with the
# status of its latest ended run and the monitor's health: jobs by health, for /metrics.
ALL_JOBS_HEALTH = f"""
WITH RECURSIVE names AS (
    (SELECT job FROM runs WHERE job IS NOT NULL ORDER BY job LIMIT 1)
    UNION ALL
    SELECT (SELECT r.job FROM runs r WHERE r.job > names.job ORDER BY r.job LIMIT 1)
    FROM names WHERE names.job IS NOT NULL
),
every_job AS (
    SELECT job FROM names WHERE job IS NOT NULL UNION SELECT job FROM jobs
)
SELECT every_job.job, jobs.health AS monitored, ended.status AS last_ended_status,
       (jobs.every IS NOT NULL OR jobs.cron IS NOT NULL) AS scheduled,
       EXISTS (SELECT 1 FROM runs WHERE runs.job = every_job.job) AS has_run
FROM every_job
LEFT JOIN jobs ON jobs.job = every_job.job
LEFT JOIN LATERAL (
    SELECT status FROM runs WHERE runs.job = every_job.job AND status IN {ENDED}
    ORDER BY started_at DESC, run_id DESC LIMIT 1
) AS ended ON true
"""

# --- alerts ------------------------------------------------------------------------------------

INSERT_ALERT = """
INSERT INTO alerts (key, rule, job, run_id, created_at, text, details)
VALUES ($1, $2, $3, $4::uuid, $5, $6, $7::jsonb)
ON CONFLICT (key) DO NOTHING
RETURNING id
"""

INSERT_DELIVERIES = """
INSERT INTO alert_deliveries (alert_id, target, format, next_attempt_at)
SELECT $1, t.target, t.format, $4 FROM unnest($2::text[], $3::text[]) AS t(target, format)
ON CONFLICT DO NOTHING
"""

# Due deliveries, each claimed until $2 by whoever takes it: rows another replica is taking
# at this moment are skipped, not waited for.
CLAIM_DELIVERIES = """
WITH due AS (
    SELECT alert_id, target FROM alert_deliveries
    WHERE status = 'pending' AND next_attempt_at <= $1
      AND (claimed_until IS NULL OR claimed_until < $1)
    ORDER BY next_attempt_at
    LIMIT $3
    FOR UPDATE SKIP LOCKED
)
UPDATE alert_deliveries AS d SET claimed_until = $2
FROM due, alerts AS a
WHERE d.alert_id = due.alert_id AND d.target = due.target AND a.id = d.alert_id
RETURNING d.alert_id, d.target, d.format, d.attempts, a.rule, a.job, a.run_id::text,
          a.created_at, a.text, a.details::text
"""

DELIVERED = """
UPDATE alert_deliveries SET status = 'sent', attempts = attempts + 1, sent_at = $3,
                            claimed_until = NULL, last_error = NULL
WHERE alert_id = $1 AND target = $2
"""

DELIVERY_FAILED = """
UPDATE alert_deliveries SET
    attempts = attempts + 1, last_error = $3, next_attempt_at = $4, claimed_until = NULL,
    status = CASE WHEN attempts + 1 >= $5 THEN 'failed' ELSE 'pending' END
WHERE alert_id = $1 AND target = $2
RETURNING status
"""

NEXT_DELIVERY_AT = """
SELECT min(GREATEST(next_attempt_at, COALESCE(claimed_until, next_attempt_at)))
FROM alert_deliveries WHERE status = 'pending'
"""

LIST_ALERTS = """
SELECT a.id, a.rule, a.job, a.run_id::text, a.created_at, a.text, a.details::text,
       (SELECT COALESCE(jsonb_agg(jsonb_build_object(
                    'target', d.target, 'format', d.format, 'status', d.status,
                    'attempts', d.attempts, 'last_error', d.last_error, 'sent_at', d.sent_at,
                    'next_attempt_at', d.next_attempt_at) ORDER BY d.target), '[]')::text
        FROM alert_deliveries d WHERE d.alert_id = a.id) AS deliveries
FROM alerts a
{where}
ORDER BY a.id DESC
LIMIT {limit}
"""

# --- retention ---------------------------------------------------------------------------------

LOG_PARTITIONS = """
SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'logs'::regclass
"""

# Runs whose logs outlive the others', and whose span may touch the day [$1, $2).
KEPT_RUNS_OF_DAY = """
SELECT run_id FROM runs
WHERE status IN ('failed', 'warning', 'timed_out')
  AND started_at < $2::timestamptz AND started_at >= $1::timestamptz - $3::interval
  AND COALESCE(GREATEST(finished_at, last_event_at), started_at) >= $1::timestamptz
"""

# Stray rows in the default partition (skewed clocks, backfills): few, deleted one by one.
DELETE_DEFAULT_LOGS = """
DELETE FROM logs_default AS l
WHERE l.ts < $1
  AND (l.ts < $2 OR NOT EXISTS (
      SELECT 1 FROM runs r
      WHERE r.run_id = l.run_id AND r.status IN ('failed', 'warning', 'timed_out')))
"""

DELETE_OLD_RUNS = f"""
DELETE FROM runs WHERE run_id IN (
    SELECT run_id FROM runs WHERE started_at < $1 AND status IN {FINAL} LIMIT $2)
"""

DELETE_OLD_ALERTS = "DELETE FROM alerts WHERE created_at < $1"
