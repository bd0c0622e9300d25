"""The shared vocabulary of the API: levels, run statuses, and their aliases."""

from __future__ import annotations

LEVELS: dict[str, int] = {
    "trace": 5,
    "debug": 10,
    "info": 20,
    "success": 25,
    "warning": 30,
    "error": 40,
    "critical": 50,
}
LEVEL_ALIASES: dict[str, int] = {
    **LEVELS,
    "warn": 30,
    "err": 40,
    "fatal": 50,
}
#: Named levels from highest to lowest, to name any number by the level at or below it.
_DESCENDING = sorted(LEVELS.items(), key=lambda item: -item[1])
LEVEL_NAMES: tuple[str, ...] = tuple(LEVELS)
MIN_LEVELNO, MAX_LEVELNO = 0, 100


def level_name(levelno: int) -> str:
    for name, number in _DESCENDING:
        if levelno >= number:
            return name
    return "trace"


def level_bucket(levelno: int) -> int:
    """Index into LEVEL_NAMES of the named level a number counts as."""
    return LEVEL_NAMES.index(level_name(levelno))


STATUSES = ("pending", "running", "success", "warning", "failed", "cancelled", "timed_out")
FINAL_STATUSES = frozenset({"success", "warning", "failed", "cancelled", "timed_out"})
STATUS_ALIASES: dict[str, str] = {
    **{s: s for s in STATUSES},
    "ok": "success",
    "succeeded": "success",
    "completed": "success",
    "error": "failed",
    "failure": "failed",
    "fail": "failed",
    "canceled": "cancelled",
    "queued": "pending",
    "timeout": "timed_out",
    "timed-out": "timed_out",
}


def merge_status(current: str | None, new: str) -> str:
    """A final status is never undone by a late non-final one (events may arrive late), nor
    by `timed_out`: the monitor's verdict on a run it saw active, which may have ended since."""
    if current in FINAL_STATUSES and (new not in FINAL_STATUSES or new == "timed_out"):
        return current
    return new
