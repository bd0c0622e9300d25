"""Log completeness of a run: did every line its sender numbered (seq) arrive?

runs.seq_max and runs.seq_count (kept by the writer, schema/008_log_seq.sql) answer for
every run at no cost: lines 0..seq_max all arrived when seq_count = seq_max + 1. Which lines
are missing is read from the run's logs, for one run at a time (GET /v1/runs/{run_id}) and
only when the figures show a gap.

A run that is not finished yet says "receiving" rather than "complete": the lines after the
highest seq so far may still come, and a gap may still be filled (a client replaying its
spool). A gap in a running run is reported as "missing" all the same: it is what is known
now. Lines lost after the last one that arrived (the tail) are seen when the run's finish
says how many lines it sent (log_lines): the writer raises seq_max to log_lines - 1 (-1 for
none), so the lines expected are the more of the two. A finish without it cannot tell.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from ingestd.ingest.vocab import FINAL_STATUSES
from ingestd.read.db import ReadDb

#: Missing ranges an answer lists at most (the count of missing lines is always whole).
MAX_GAPS = 10

# The run's distinct seqs, by the primary key (run_id, ...) of each partition; -1 before
# them all and the count expected ($3) after them, so a gap at the start or at the end (the
# tail its finish announced) is found like any other. In bigint: the count expected may be
# int4's top, and seq + 1 is computed past it.
RUN_GAPS = """
WITH numbered AS (
    SELECT DISTINCT seq FROM logs WHERE run_id = $1::uuid AND seq IS NOT NULL
), steps AS (
    SELECT seq, lead(seq) OVER (ORDER BY seq) AS next
    FROM (SELECT seq::bigint FROM numbered UNION ALL SELECT -1 UNION ALL SELECT $3::bigint) AS s
)
SELECT (SELECT count(*) FROM numbered) AS received,
       ARRAY(SELECT ARRAY[seq + 1, next - 1] FROM steps WHERE next > seq + 1
             ORDER BY seq LIMIT $2) AS gaps
"""


def completeness(row: asyncpg.Record) -> dict[str, Any]:
    """The run's completeness from its figures alone; `gaps` is null (not looked up)."""
    seq_max, received = row["seq_max"], row["seq_count"]
    if seq_max is None:
        return {"state": "unknown", "received": 0, "expected": None, "missing": None, "gaps": None}
    expected = seq_max + 1
    if received > expected:
        # Some seq counted twice: a sender repeated numbers without event ids. Only the
        # run's logs can tell (see with_gaps).
        state, missing = "unknown", None
    elif received < expected:
        state, missing = "missing", expected - received
    else:
        state, missing = ("complete" if row["status"] in FINAL_STATUSES else "receiving"), 0
    return {
        "state": state,
        "received": received,
        "expected": expected,
        "missing": missing,
        "gaps": [] if missing == 0 else None,
    }


async def with_gaps(db: ReadDb, row: asyncpg.Record) -> dict[str, Any]:
    """The run's completeness with its missing ranges, read from its logs when it has any."""
    answer = completeness(row)
    if answer["expected"] is None or answer["missing"] == 0:
        return answer
    found = await db.fetchrow(RUN_GAPS, row["run_id"], MAX_GAPS, answer["expected"])
    assert found is not None  # an aggregate always gives one row
    received = found["received"]
    if answer["missing"] is not None and received != answer["received"]:
        return answer  # some of the run's logs were deleted (retention): ranges unknowable
    expected = answer["expected"]
    missing = expected - received
    gaps = [list(gap) for gap in found["gaps"]]
    state = "missing" if missing else answer["state"]
    if state == "unknown":  # repeated numbers, but every line is there
        state = "complete" if row["status"] in FINAL_STATUSES else "receiving"
    return {**answer, "state": state, "received": received, "missing": missing, "gaps": gaps}
