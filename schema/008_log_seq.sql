-- Log completeness per run (issue 14): clients number the log lines of a run (seq, from 0),
-- so a run can say whether every line arrived.
--
-- logs.seq is the number as sent (NULL when not sent). runs keeps what the writer folds per
-- batch: the highest seq stored and how many lines with a seq were stored (after event_id
-- deduplication, so a replayed batch is not counted twice). Lines 0..seq_max all arrived
-- when seq_count = seq_max + 1; which ones are missing is read from the run's logs, and only
-- for a run with a gap (read/completeness.py).
--
-- Adding a nullable column without a default rewrites nothing (logs), and a constant default
-- is stored once in the catalog (runs): the migration takes no time on big tables. seq and
-- both counters live on rows keyed by run_id, the distribution key: nothing here crosses
-- runs, so the schema stays Citus-ready.
ALTER TABLE logs ADD COLUMN seq integer;
ALTER TABLE runs ADD COLUMN seq_max integer, ADD COLUMN seq_count integer NOT NULL DEFAULT 0;

-- Runs with lines missing, for the count in GET /v1/stats/summary. Partial: a run whose lines
-- come in order never has an entry, so writing runs costs no index entry until a gap opens.
CREATE INDEX runs_gaps_idx ON runs (started_at) INCLUDE (job) WHERE seq_count <> seq_max + 1;
