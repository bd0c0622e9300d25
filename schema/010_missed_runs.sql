-- Missed slots apart from real runs in the figures; the `waiting` health.
--
-- The monitor records a missed slot as a run (status failed, 0 ms, attrs.missed = true: see
-- docs/monitoring.md). Counted as a run, each silent hour of an hourly job was a failure
-- and a 0 ms duration, which pulled success rates and p50/p95 down for something that never
-- ran. runs.missed says so as a column, and runs_job_window_idx carries it, so the per-job
-- figures (GET /v1/jobs, /v1/stats/*) can leave missed slots out and stay index-only.
ALTER TABLE runs ADD COLUMN missed boolean
    GENERATED ALWAYS AS (attrs @> '{"missed": true}') STORED;
DROP INDEX runs_job_window_idx;
CREATE INDEX runs_job_window_idx ON runs (job, started_at, run_id)
    INCLUDE (status, duration_ms, n_trace, n_debug, n_info, n_success, n_warning, n_error,
             n_critical, missed);

-- The monitor's verdict may now be `waiting`: a job with a schedule and no run yet.
ALTER TABLE jobs DROP CONSTRAINT jobs_health_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_health_check
    CHECK (health IN ('ok', 'failing', 'late', 'missed', 'waiting', 'unknown'));
