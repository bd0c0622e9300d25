"""What changed between a run and another (by default the job's last success before it), set
against the job's usual ranges: durations, steps, error fingerprints, log volume, counters
and attributes. Plain data in, the answer of GET /v1/runs/{id}/compare out; the sentences a
person reads are made in `compare_text`."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson

from ingestd.ingest.vocab import LEVEL_NAMES

#: The usual ranges come from the job's newest successful runs before the run (its newest
#: whenever they ran only when none came before it), at most this many.
USUAL_RUNS = 100
#: "Usually A-B" is the 5th to the 95th percentile of the window: one odd run in twenty
#: does not widen it.
LOW_Q, HIGH_Q = 0.05, 0.95
#: Usual values of an attribute: the commonest few.
USUAL_VALUES = 3


@dataclass(frozen=True, slots=True)
class Usual:
    """The window's values of one figure, ready for percentiles."""

    values: list[float]

    def as_dict(self) -> dict[str, Any] | None:
        if not self.values:
            return None
        ordered = sorted(self.values)
        return {
            "p5": percentile(ordered, LOW_Q),
            "p50": percentile(ordered, 0.5),
            "p95": percentile(ordered, HIGH_Q),
            "runs": len(ordered),
        }


def percentile(ordered: list[float], q: float) -> float:
    """Linear interpolation between the closest ranks, as PostgreSQL's percentile_cont."""
    at = q * (len(ordered) - 1)
    low, high = math.floor(at), math.ceil(at)
    value = ordered[low] + (ordered[high] - ordered[low]) * (at - low)
    return round(value, 3)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _json(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def run_brief(row: Any) -> dict[str, Any]:
    return {
        "run_id": row["run_id"],
        "job": row["job"],
        "status": row["status"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
        "duration_ms": row["duration_ms"],
    }


def _difference(value: float | None, other: float | None) -> float | None:
    return None if value is None or other is None else value - other


def duration(run: Any, other: Any | None, window: list[Any]) -> dict[str, Any]:
    usual = Usual([r["duration_ms"] for r in window if r["duration_ms"] is not None]).as_dict()
    with_ms = None if other is None else other["duration_ms"]
    return {
        "ms": run["duration_ms"],
        "with_ms": with_ms,
        "difference_ms": _difference(run["duration_ms"], with_ms),
        "p50_ms": None if usual is None else usual["p50"],
        "p95_ms": None if usual is None else usual["p95"],
        "usual": usual,
    }


def steps(run_id: str, with_id: str | None, rows: list[Any]) -> list[dict[str, Any]]:
    """Each step of either run: its time (first to last line) and lines in each; in the
    order the run went through them, then the other run's steps it did not have."""
    mine = {r["step"]: r for r in rows if r["run_id"] == run_id}
    theirs = {r["step"]: r for r in rows if r["run_id"] == with_id} if with_id else {}
    if with_id == run_id:
        theirs = mine
    order = sorted(mine, key=lambda s: (mine[s]["first_at"], s))
    order += sorted((s for s in theirs if s not in mine), key=lambda s: (theirs[s]["first_at"], s))

    def span(row: Any | None) -> int | None:
        if row is None:
            return None
        elapsed: timedelta = row["last_at"] - row["first_at"]
        return round(elapsed.total_seconds() * 1000)

    items = []
    for step in order:
        a, b = mine.get(step), theirs.get(step)
        items.append(
            {
                "step": step,
                "in": "both" if a and b else "run" if a else "with",
                "ms": span(a),
                "with_ms": span(b),
                "lines": a["n"] if a else 0,
                "with_lines": b["n"] if b else None if with_id is None else 0,
            }
        )
    return items


def _error(row: Any, count_key: str = "count") -> dict[str, Any]:
    return {
        "fingerprint": row["fingerprint"],
        "step": row["step"],
        count_key: row["n"],
        "sample": {"message": row["message"], "error": _json(row["error"])},
    }


def errors(run_id: str, with_id: str | None, rows: list[Any]) -> dict[str, Any]:
    """Fingerprints of error lines in the run and not in the other (new), and the other way
    round (gone), most lines first. Without a run to compare with, every one is new."""
    mine = {r["fingerprint"]: r for r in rows if r["run_id"] == run_id}
    theirs = {r["fingerprint"]: r for r in rows if r["run_id"] == with_id} if with_id else {}
    if with_id == run_id:
        theirs = mine
    new = [_error(r) for f, r in mine.items() if f not in theirs]
    gone = [_error(r) for f, r in theirs.items() if f not in mine]
    both = [{**_error(r), "with_count": theirs[f]["n"]} for f, r in mine.items() if f in theirs]
    for items in (new, gone, both):
        items.sort(key=lambda e: (-e["count"], e["fingerprint"] or ""))
    return {"new": new, "gone": gone, "both": both}


def log_counts(run: Any, other: Any | None, window: list[Any]) -> dict[str, Any]:
    return {
        name: {
            "count": run[f"n_{name}"],
            "with": None if other is None else other[f"n_{name}"],
            "usual": Usual([r[f"n_{name}"] for r in window]).as_dict(),
        }
        for name in LEVEL_NAMES
    }


def counters(run: Any, other: Any | None, window: list[Any]) -> list[dict[str, Any]]:
    """Counters whose value differs from the other run's (all of them without one), each
    with the job's usual range of it."""
    mine, theirs = _json(run["counters"]) or {}, {} if other is None else _json(other["counters"])
    history = [_json(r["counters"]) or {} for r in window]
    keys = set(mine) | set(theirs or {}) if other is not None else set(mine)
    items = []
    for key in sorted(keys):
        value, with_value = mine.get(key), (theirs or {}).get(key)
        if other is not None and value == with_value:
            continue
        numbers = [n for h in history if (n := _number(h.get(key))) is not None]
        items.append(
            {"key": key, "value": value, "with": with_value, "usual": Usual(numbers).as_dict()}
        )
    return items


def _key(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def attrs(run: Any, other: Any | None, window: list[Any]) -> list[dict[str, Any]]:
    """Attributes whose value differs from the other run's (all of them without one), each
    with the job's commonest values of it and how many runs of the window had it."""
    mine, theirs = _json(run["attrs"]) or {}, {} if other is None else _json(other["attrs"])
    history = [h for r in window if isinstance(h := _json(r["attrs"]), dict)]
    keys = set(mine) | set(theirs or {}) if other is not None else set(mine)
    items = []
    for key in sorted(keys):
        value, with_value = mine.get(key), (theirs or {}).get(key)
        if other is not None and _key(value) == _key(with_value):
            continue
        seen = [h[key] for h in history if key in h]
        tally = Counter(_key(v) for v in seen)
        usual = None
        if seen:
            common = [(orjson.loads(k), n) for k, n in tally.most_common(USUAL_VALUES)]
            usual = {"values": [{"value": v, "runs": n} for v, n in common], "runs": len(seen)}
        items.append({"key": key, "value": value, "with": with_value, "usual": usual})
    return items
