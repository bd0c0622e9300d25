"""What changed since the job's last success, added to a failed (or timed-out) run's alert:
the compare endpoint's summary sentences (read/compare_api.py). It is a help, not the alert:
bounded in time, and should it fail or run late the alert goes without it."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable

from ingestd.monitoring.alerts import AlertSpec
from ingestd.read import compare_api
from ingestd.read.db import ReadDb

log = logging.getLogger("ingestd.alerts")

RULES = frozenset({"failed", "timed_out"})
#: Sentences kept, most telling first (the summary's order).
MAX_LINES = 5

Summarize = Callable[[str], Awaitable[list[str]]]


def summarizer(db: ReadDb) -> Summarize:
    async def summarize(run_id: str) -> list[str]:
        answer = await compare_api.comparison(db, run_id, None)
        return [] if answer is None or answer["with"] is None else answer["summary"]

    return summarize


async def added(alerts: list[AlertSpec], summarize: Summarize, budget_s: float) -> list[AlertSpec]:
    """The alerts, a failed run's with what changed in its text and details when it came
    within the budget (all are asked at once)."""
    wanted = [a for a in alerts if a.rule in RULES and a.run_id is not None]
    if not wanted:
        return alerts
    try:
        async with asyncio.timeout(budget_s):
            found = await asyncio.gather(
                *(summarize(a.run_id) for a in wanted if a.run_id), return_exceptions=True
            )
    except TimeoutError:
        log.warning("what changed: no summary within %.1fs; alerts sent without it", budget_s)
        return alerts
    summaries: dict[str, list[str]] = {}
    for alert, lines in zip(wanted, found, strict=True):
        if isinstance(lines, BaseException):
            log.warning("what changed: run %s not compared: %r", alert.run_id, lines)
        elif lines and alert.run_id is not None:
            summaries[alert.run_id] = lines[:MAX_LINES]
    return [_with(a, summaries[a.run_id]) if a.rule in RULES and a.run_id in summaries else a
            for a in alerts]  # fmt: skip


def _with(alert: AlertSpec, lines: list[str]) -> AlertSpec:
    text = (
        alert.text
        + "\nWhat changed since the last success:\n"
        + "\n".join(f"- {line}" for line in lines)
    )
    return dataclasses.replace(alert, text=text, details={**alert.details, "what_changed": lines})
