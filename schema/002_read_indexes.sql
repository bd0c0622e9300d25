-- Read-side indexes (issue 3). Every index on logs is paid for on every row written, so
-- logs get a BRIN on time and a b-tree on errors only. Every index on runs is paid for each time the
-- writer updates a run (once per run per batch), so runs get one more than before.

-- Run figures over a time window (stats, jobs, timeseries) come from this index alone (an
-- index-only scan), per job in job order: status, duration and the per-level log counts
-- ride along. Without a job, a window is read by skipping through the jobs (PostgreSQL 18
-- skip scan). It replaces 001's runs_job_started_idx, whose keys it has (a job's runs
-- newest first), so runs keep the same number of indexes to update.
-- The log counts change with every batch, so an update of a run is never HOT while this
-- index holds them; it is not HOT today anyway (runs pages are full: fillfactor 100, and an
-- index on updated_at exists). Should runs updates become HOT, drop the n_* columns here:
-- the stats then read them from the table, about 10 ms more for 7 days of 200,000 runs.
DROP INDEX runs_job_started_idx;
CREATE INDEX runs_job_window_idx ON runs (job, started_at, run_id)
    INCLUDE (status, duration_ms, n_trace, n_debug, n_info, n_success, n_warning, n_error,
             n_critical);

-- attr.<key>=<value> filters on runs: attrs @> '{"key": "value"}'.
CREATE INDEX runs_attrs_idx ON runs USING gin (attrs jsonb_path_ops);

-- What is running now: few rows, so a small partial index answers at once.
CREATE INDEX runs_active_idx ON runs (started_at DESC, run_id DESC)
    WHERE status IN ('pending', 'running');

-- Any time window of logs: a BRIN index (a few bytes per 32 pages), not a b-tree, which
-- would cost every written line more CPU than all its other indexes together. Lines arrive
-- roughly in time order, so each block range covers a short span; newest-first lists read
-- a small time slice at a time (read_api.newest_logs). autosummarize has autovacuum
-- summarize each range as it fills; the unsummarized tail is always read, and is the
-- newest data anyway.
CREATE INDEX logs_ts_idx ON logs USING brin (ts) WITH (pages_per_range = 32, autosummarize = on);

-- Errors (about 2% of logs): lists of errors and error stats read only this index.
CREATE INDEX logs_errors_idx ON logs (ts) INCLUDE (job, step, run_id, fingerprint)
    WHERE levelno >= 40;
