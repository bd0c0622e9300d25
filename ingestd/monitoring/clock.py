"""The monitor's notion of now, which tests can freeze and move.

Everything that judges time for jobs (schedules, timeouts, alert retries, retention, pings)
asks this clock, so "a job every minute goes late, then missed" runs in a test in seconds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp import web


class Clock:
    def __init__(self) -> None:
        self._frozen: datetime | None = None
        self._offset = timedelta()

    def now(self) -> datetime:
        if self._frozen is not None:
            return self._frozen
        return datetime.now(UTC) + self._offset

    def set(self, when: datetime) -> None:
        """Stop the clock at `when` (tests)."""
        self._frozen = when

    def advance(self, by: timedelta) -> None:
        """Move the clock forward, frozen or not (tests)."""
        if self._frozen is not None:
            self._frozen += by
        else:
            self._offset += by


#: The clock that jobs are judged by (tests move it).
CLOCK = web.AppKey("clock", Clock)
