"""GET /v1/runs/{id}/compare: what changed since the last good run, on crafted runs whose
answer is known: durations, steps, error fingerprints, log volume, counters, attributes,
the plain-language list; no previous success; another job's run; unknown ids."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import Served
from tests.pgcluster import ThrowawayCluster
from tests.read_helpers import bad, get, iso, rid, run_event, send, served_database

JOB = "nightly-import"
DASH, TIMES = "\u2013", "\u00d7"


@dataclass
class Crafted:
    server: Served
    runs: dict[str, str]


def _run(
    run_id: str, job: str, start: datetime, seconds: float, status: str, **more: Any
) -> dict[str, Any]:
    return run_event(
        run_id,
        job=job,
        status=status,
        started_at=iso(start),
        finished_at=iso(start + timedelta(seconds=seconds)),
        **more,
    )


def _line(
    run_id: str, job: str, at: datetime, step: str, message: str, level: str = "info"
) -> dict[str, Any]:
    return {"run_id": run_id, "job": job, "ts": iso(at), "step": step, "message": message,
            "level": level}  # fmt: skip


def _clock(start: datetime) -> Callable[[float], datetime]:
    """The moment `s` seconds after `start`."""
    return lambda s: start + timedelta(seconds=s)


def crafted_events(now: datetime) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Six successes of nightly-import (s1-s6: 60, 90, 120, 150, 180, 100 s; files 40-42;
    version 2.2) and between s5 and s6 the failed run F; fresh-job, whose only success came
    after its failure; other-job, one run."""
    runs = {name: rid() for name in ("s1", "s2", "s3", "s4", "s5", "F", "s6", "X", "Y", "O")}
    events: list[dict[str, Any]] = []
    successes = {"s1": (600, 60, 40), "s2": (540, 90, 41), "s3": (480, 120, 42),
                 "s4": (420, 150, 41), "s5": (360, 180, 40), "s6": (240, 100, 41)}  # fmt: skip
    for name, (minutes_ago, seconds, files) in successes.items():
        run_id, start = runs[name], now - timedelta(minutes=minutes_ago)
        at = _clock(start)
        events.append(
            _run(
                run_id,
                JOB,
                start,
                seconds,
                "success",
                counters={"files": files},
                attrs={"version": "2.2", "host": "db1", "file": f"{name}.csv"},
            )
        )
        events += [
            _line(run_id, JOB, at(1), "FETCH", "fetching"),
            _line(run_id, JOB, at(11), "FETCH", "fetched"),
            _line(run_id, JOB, at(20), "SAVE", "saving"),
            _line(run_id, JOB, at(seconds - 5), "SAVE", "saved"),
            _line(run_id, JOB, at(seconds), "END", "done"),
        ]
        if name == "s5":
            events.append(
                _line(
                    run_id, JOB, at(5), "FETCH", "connection reset by 10.0.0.7, retrying", "error"
                )
            )
    # F: 4 min 12 s, no files, version 2.3; FETCH slow, a new step, no END, 12 bad dates.
    run_id, start = runs["F"], now - timedelta(minutes=300)
    at = _clock(start)
    events.append(
        _run(
            run_id,
            JOB,
            start,
            252,
            "failed",
            counters={"files": 0},
            attrs={"version": "2.3", "host": "db1", "file": "F.csv"},
        )
    )
    events += [
        _line(run_id, JOB, at(1), "FETCH", "fetching"),
        _line(run_id, JOB, at(41), "FETCH", "fetched"),
        _line(run_id, JOB, at(50), "VALIDATE", "validating"),
        _line(run_id, JOB, at(60), "VALIDATE", "validated"),
        *[
            _line(run_id, JOB, at(100 + i), "SAVE", f"row {6 + i}: bad date", "error")
            for i in range(12)
        ],
        _line(run_id, JOB, at(250), "SAVE", "gave up"),
    ]
    # fresh-job: X failed before its first success Y.
    x_start, y_start = now - timedelta(minutes=200), now - timedelta(minutes=100)
    events += [
        _run(runs["X"], "fresh-job", x_start, 30, "failed", counters={"rows": 3}),
        _line(runs["X"], "fresh-job", x_start + timedelta(seconds=2), "RUN", "boom", "error"),
        # A line from a clock two days behind: far outside the run's own time.
        {
            **_line(runs["X"], "fresh-job", x_start - timedelta(days=2), "RUN", "", "error"),
            "step": None,
            "message": "clock skewed",
        },
        _run(runs["Y"], "fresh-job", y_start, 40, "success", counters={"rows": 9}),
        _run(
            runs["O"],
            "other-job",
            now - timedelta(minutes=50),
            20,
            "success",
            counters={"files": 7},
            attrs={"version": "9"},
        ),
    ]
    return runs, events


@pytest.fixture(scope="module")
async def crafted(pg_cluster: ThrowawayCluster) -> AsyncIterator[Crafted]:
    async with served_database(pg_cluster) as served:
        runs, events = crafted_events(datetime.now(UTC).replace(microsecond=0))
        await send(served, *events)
        yield Crafted(served, runs)


async def compare(crafted: Crafted, name: str, expect: int = 200, /, **params: str) -> Any:
    return await get(crafted.server, f"v1/runs/{crafted.runs[name]}/compare", expect, **params)


async def test_a_failed_run_against_the_last_success_before_it(crafted: Crafted) -> None:
    answer = await compare(crafted, "F")
    runs = crafted.runs
    assert answer["run"]["run_id"] == runs["F"]
    # s6 succeeded later: the last success *before* F is s5.
    assert answer["with"]["run_id"] == runs["s5"]
    assert answer["with_reason"] == "last_success"
    assert answer["summary"] == [
        f"new error in SAVE: 'row 17: bad date' {TIMES}12",
        f"no longer: 'connection reset by 10.0.0.7, retrying' ({TIMES}1 in the last success)",
        f"took 4 min 12 s, usually 1{DASH}3 min (3 min in the last success)",
        "step FETCH took 40 s (10 s in the last success)",
        "step VALIDATE ran (10 s), not in the last success",
        "step END did not run (it did in the last success)",
        f"error lines 12, usually 0{DASH}1",
        f"files 0, usually 40{DASH}42",
        "version 2.3, usually 2.2",
    ]


async def test_the_figures_behind_the_list(crafted: Crafted) -> None:
    answer = await compare(crafted, "F")
    # The usual window: the job's successful runs before F (s1-s5); s6 came after it.
    assert answer["usual_window"] == {"runs": 5, "of_at_most": 100, "before_run": True}
    duration = answer["duration"]
    assert duration["ms"] == 252_000 and duration["with_ms"] == 180_000
    assert duration["difference_ms"] == 72_000
    # 60, 90, 120, 150, 180 s: percentiles as PostgreSQL's percentile_cont (p5 at rank 0.2,
    # p95 at rank 3.8 of 0-4).
    assert duration["p50_ms"] == 120_000 and duration["p95_ms"] == 174_000
    assert duration["usual"] == {"p5": 66_000, "p50": 120_000, "p95": 174_000, "runs": 5}
    assert answer["steps"] == [
        {"step": "FETCH", "in": "both", "ms": 40_000, "with_ms": 10_000, "lines": 2,
         "with_lines": 3},
        {"step": "VALIDATE", "in": "run", "ms": 10_000, "with_ms": None, "lines": 2,
         "with_lines": 0},
        {"step": "SAVE", "in": "both", "ms": 150_000, "with_ms": 155_000, "lines": 13,
         "with_lines": 2},
        {"step": "END", "in": "with", "ms": None, "with_ms": 0, "lines": 0, "with_lines": 1},
    ]  # fmt: skip
    (new,) = answer["errors"]["new"]
    assert new["step"] == "SAVE" and new["count"] == 12 and new["fingerprint"]
    assert new["sample"]["message"] == "row 17: bad date"  # the newest of the twelve
    (gone,) = answer["errors"]["gone"]
    assert gone["count"] == 1 and gone["step"] == "FETCH"
    assert answer["errors"]["both"] == []
    assert answer["log_counts"]["error"] == {
        "count": 12, "with": 1, "usual": {"p5": 0, "p50": 0, "p95": 0.8, "runs": 5},
    }  # fmt: skip
    assert answer["log_counts"]["info"]["count"] == 5
    assert answer["counters"] == [
        {"key": "files", "value": 0, "with": 40,
         "usual": {"p5": 40, "p50": 41, "p95": 41.8, "runs": 5}},
    ]  # fmt: skip
    by_key = {item["key"]: item for item in answer["attrs"]}
    assert set(by_key) == {"version", "file"}  # host is the same
    assert by_key["version"]["usual"] == {"values": [{"value": "2.2", "runs": 5}], "runs": 5}
    assert by_key["file"]["with"] == "s5.csv"


async def test_a_run_with_no_previous_success_gets_only_the_usual_ranges(
    crafted: Crafted,
) -> None:
    answer = await compare(crafted, "X")
    assert answer["with"] is None
    # No success before X: the window falls back to Y, the success that came later, and
    # says so.
    assert answer["usual_window"] == {"runs": 1, "of_at_most": 100, "before_run": False}
    assert answer["duration"]["usual"] == {"p5": 40_000, "p50": 40_000, "p95": 40_000, "runs": 1}
    assert answer["counters"] == [
        {"key": "rows", "value": 3, "with": None,
         "usual": {"p5": 9, "p50": 9, "p95": 9, "runs": 1}},
    ]  # fmt: skip
    # The skewed line is found too, though it lies outside the run's own time.
    assert sorted(e["sample"]["message"] for e in answer["errors"]["new"]) == [
        "boom", "clock skewed",
    ]  # fmt: skip
    assert sorted(answer["summary"][:2]) == [
        f"new error in RUN: 'boom' {TIMES}1",
        f"new error: 'clock skewed' {TIMES}1",
    ]
    assert answer["summary"][2:] == ["took 30 s, usually 40 s", "rows 3, usually 9"]


async def test_with_names_any_run_even_of_another_job(crafted: Crafted) -> None:
    answer = await compare(crafted, "F", **{"with": crafted.runs["O"]})
    assert answer["with"]["run_id"] == crafted.runs["O"]
    assert answer["with"]["job"] == "other-job"
    assert answer["with_reason"] == "requested"
    assert answer["usual_window"]["runs"] == 5  # still the run's own job, before the run
    label = f"run {crafted.runs['O'][:8]}"
    assert f"took 4 min 12 s, usually 1{DASH}3 min (20 s in {label})" in answer["summary"]
    # A later success of the same job is fine too; last_success may be named.
    later = await compare(crafted, "F", **{"with": crafted.runs["s6"]})
    assert later["with"]["run_id"] == crafted.runs["s6"]
    named = await compare(crafted, "F", **{"with": "last_success"})
    assert named["with"]["run_id"] == crafted.runs["s5"]
    # Any spelling of the run id (as everywhere in the API) gives the same answer.
    upper = await get(crafted.server, f"v1/runs/{crafted.runs['F'].upper()}/compare")
    assert upper["summary"] == named["summary"]


async def test_unknown_runs_are_404_and_bad_parameters_400(crafted: Crafted) -> None:
    server, f = crafted.server, crafted.runs["F"]
    problem = await get(server, f"v1/runs/{rid()}/compare", 404)
    assert problem["status"] == 404
    problem = await get(server, f"v1/runs/{f}/compare", 404, **{"with": rid()})
    assert "to compare with" in problem["detail"]
    assert "last_success" in await bad(server, f"v1/runs/{f}/compare", "with", **{"with": "prev"})
    await bad(server, f"v1/runs/{f}/compare", "limit", limit="3")
    await bad(server, "v1/runs/not-a-uuid/compare", "run_id")


async def test_a_run_that_ended_in_a_warning_is_a_last_success(crafted: Crafted) -> None:
    # A job whose good runs all end in `warning` (some records skipped): its failure is set
    # beside the newest of them, and they make its usual ranges, as they count as successes
    # in every figure.
    now = datetime.now(UTC).replace(microsecond=0)
    warned, newer, failed = rid(), rid(), rid()
    await send(
        crafted.server,
        _run(warned, "warned-job", now - timedelta(minutes=90), 50, "warning"),
        _run(newer, "warned-job", now - timedelta(minutes=60), 70, "warning"),
        _run(failed, "warned-job", now - timedelta(minutes=30), 5, "failed"),
    )
    answer = await get(crafted.server, f"v1/runs/{failed}/compare")
    assert answer["with"]["run_id"] == newer
    assert answer["with_reason"] == "last_success"
    assert answer["usual_window"]["runs"] == 2
    assert answer["summary"] == [
        f"took 5 s, usually 51 s{DASH}2 min (1 min 10 s in the last success)"
    ]


async def test_a_later_success_does_not_count_towards_an_old_runs_usual_ranges(
    crafted: Crafted,
) -> None:
    # Version 1.9.0 failed two days ago and its fix 1.9.1 came after: the old failure is set
    # against what was usual then (1.8.2), not against its fix; and the fix's own window
    # holds the successes before it, the failure left out.
    now = datetime.now(UTC).replace(microsecond=0)
    old, broken, fixed, newest = rid(), rid(), rid(), rid()
    day = timedelta(days=1)
    await send(
        crafted.server,
        _run(old, "versioned", now - 3 * day, 60, "success", counters={"rows": 100},
             attrs={"version": "1.8.2"}),
        _run(broken, "versioned", now - 2 * day, 5, "failed", counters={"rows": 0},
             attrs={"version": "1.9.0"}),
        _run(fixed, "versioned", now - day, 300, "success", counters={"rows": 900},
             attrs={"version": "1.9.1"}),
        _run(newest, "versioned", now - day / 2, 300, "success", counters={"rows": 900},
             attrs={"version": "1.9.1"}),
    )  # fmt: skip
    answer = await get(crafted.server, f"v1/runs/{broken}/compare")
    assert answer["with"]["run_id"] == old
    assert answer["usual_window"] == {"runs": 1, "of_at_most": 100, "before_run": True}
    assert answer["duration"]["usual"] == {"p5": 60_000, "p50": 60_000, "p95": 60_000, "runs": 1}
    by_key = {item["key"]: item for item in answer["attrs"]}
    assert by_key["version"]["usual"] == {"values": [{"value": "1.8.2", "runs": 1}], "runs": 1}
    assert answer["counters"][0]["usual"] == {"p5": 100, "p50": 100, "p95": 100, "runs": 1}
    assert answer["summary"] == [
        "took 5 s, usually 1 min (1 min in the last success)",
        "rows 0, usually 100",
        "version 1.9.0, usually 1.8.2",
    ]
    later = await get(crafted.server, f"v1/runs/{newest}/compare")
    assert later["with"]["run_id"] == fixed
    assert later["usual_window"] == {"runs": 2, "of_at_most": 100, "before_run": True}
    assert later["duration"]["usual"]["runs"] == 2  # old and fixed: not broken, not itself
