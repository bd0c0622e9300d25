-- Error stats by attribute (GET /v1/stats/errors?by=attr.<key>) from the error index alone.
--
-- 002's logs_errors_idx left attrs out, so grouping errors by an attribute fetched every
-- error line of the window from the table: 46,000 scattered heap reads for 7 days of the
-- 10-million-line benchmark, about 200 ms, against about 30 ms for by=step, which is an
-- index-only scan. With attrs in the index every grouping is index-only (about 30 ms too).
-- attrs is small on log lines (about 40 bytes): the index grows by about half, and only error
-- lines (about 2%) are in it. At ingest that is within the noise: COPYing only the error
-- lines of the benchmark's mix costs PostgreSQL 13.5 us of CPU per error line with and
-- without it (bench/read.py --copy-cost 2000000 --errors-only --cost-rounds 5).
--
-- Same name and key as before, so what reads it (error lists, the other error stats) does
-- not change. Built in this migration's transaction: writes to logs wait while it builds,
-- about 2 s for the 10 million lines of the benchmark (it reads them all, keeps the 2%).
DROP INDEX logs_errors_idx;
CREATE INDEX logs_errors_idx ON logs (ts) INCLUDE (job, step, run_id, fingerprint, attrs)
    WHERE levelno >= 40;
