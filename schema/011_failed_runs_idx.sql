-- failed_runs of GET /v1/stats/errors: how many of a group's runs failed or timed out.
--
-- Joining the window's error lines (about 38,000 distinct runs for 7 days of the
-- 10-million-line benchmark) with runs hashed all 200,000 runs from the table: about 550 ms
-- added to a query of about 100 ms. The failed and timed-out runs are a few percent of all
-- runs; this partial index holds just their ids, so the join hashes about 12,000 ids from an
-- index-only scan (about 3 ms). It costs a write only when a run ends failed or timed out.
CREATE INDEX runs_failed_idx ON runs (run_id) WHERE status IN ('failed', 'timed_out');
