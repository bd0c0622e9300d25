-- Row estimates for attr.<key>=<value> filters on runs (attrs @> '{"key": "value"}').
--
-- PostgreSQL estimates how many runs match from a sample of attrs documents: their most
-- common values and a histogram, 100 entries each by default, from a sample of 30,000 rows.
-- With a few hundred values of profile_id, some values came out ten times too common
-- (1,068 runs estimated, 117 real, in the 200,000-run read benchmark). The planner then
-- walked runs_started_idx newest first, filtering, instead of taking the matches from
-- runs_attrs_idx: 83,000 runs read and 40-50 ms, against 2-3 ms. Over the benchmark's 700
-- profile_id and terminal_id values, after each of four ANALYZEs, 83 to 88 values were
-- planned that way (the runs list filtered by attr had p95 45-72 ms when it met them).
--
-- 1,000 entries from a sample of 300,000 rows: after four more ANALYZEs, none of the 700.
-- What it costs: ANALYZE of runs takes longer (attrs alone: 1.8 s for the 200,000 runs;
-- this migration runs it once), and planning a query with an attrs filter checks the 1,000
-- common values: 0.21 ms against 0.09 ms (median of 200 plans).
ALTER TABLE runs ALTER COLUMN attrs SET STATISTICS 1000;
ANALYZE runs (attrs);
