-- attrs in covering indexes only while they fit an index entry.
--
-- attrs may be up to 64 KiB (events.Limits.max_attrs_bytes), but a b-tree entry holds at
-- most 2,704 bytes (after compression). 005 put attrs in logs_errors_idx whole, so an error
-- line with big attrs that do not compress failed to write ("index row size exceeds btree
-- version 4 maximum 2704"): the writer isolated it and dead-lettered it.
--
-- Now attrs ride along only when their text is at most 300 bytes. jsonb takes at most about
-- four bytes per byte of text (an array of single digits: 768 bytes of text, 3,078 of
-- jsonb), so 1.2 kB at worst, next to a job name of at most 800 bytes (200 characters).
-- Documents with more, rare, have a small index of their own, and the queries that group
-- by an attribute read both (read_queries.STATS_ERRORS, STATS_BY_ATTR: a UNION ALL branch
-- each):
--
-- * logs_errors_idx is 002's again: every error line, for error lists and error stats by
--   step, job or fingerprint (index-only).
-- * logs_error_attrs_idx: error lines with small (or no) attrs, for error stats by
--   attr.<key> (index-only, as with 005).
-- * runs.small_attrs, generated: attrs when they fit, else NULL. runs_started_idx carries
--   it (with job, status and duration_ms), so GET /v1/stats/by is an index-only scan of a
--   time range. It was a bitmap scan of runs: for 7 days of the 200,000-run read benchmark,
--   47,000 runs fetched from 2,245 table pages, 60-95 ms. runs_started_idx, not a new
--   index: runs are updated once per run per batch and the updates are not HOT, so every
--   index on runs costs every update an entry. PostgreSQL CPU per run update (300 runs
--   updated 300 times, median of 5): 47.9 us before 007, 54.8 us with an index of its own.
--   Not runs_job_window_idx either: the summary, per-job and jobs figures scan it whole
--   over a window, and with attrs in it they took 40 ms instead of 25 (median of 15).
-- * logs_error_big_attrs_idx, runs_big_attrs_idx: the rest, read from the table.
--
-- Each predicate on logs converts attrs to text, but only for error lines (about 2% of
-- lines). The runs table is rewritten once to add the column (seconds for 200,000 runs;
-- database.migrate then VACUUMs it, so index-only scans work at once).
DROP INDEX logs_errors_idx;
CREATE INDEX logs_errors_idx ON logs (ts) INCLUDE (job, step, run_id, fingerprint)
    WHERE levelno >= 40;
CREATE INDEX logs_error_attrs_idx ON logs (ts) INCLUDE (job, run_id, attrs)
    WHERE levelno >= 40 AND COALESCE(octet_length(attrs::text), 0) <= 300;
CREATE INDEX logs_error_big_attrs_idx ON logs (ts)
    WHERE levelno >= 40 AND octet_length(attrs::text) > 300;

ALTER TABLE runs ADD COLUMN small_attrs jsonb
    GENERATED ALWAYS AS (CASE WHEN octet_length(attrs::text) <= 300 THEN attrs END) STORED;
DROP INDEX runs_started_idx;
CREATE INDEX runs_started_idx ON runs (started_at DESC, run_id DESC)
    INCLUDE (job, status, duration_ms, small_attrs);
CREATE INDEX runs_big_attrs_idx ON runs (started_at) WHERE small_attrs IS NULL;
