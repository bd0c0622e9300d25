"""When a job is expected to run: `every` a period, or a `cron` line in a time zone.

Cron lines are read by croniter (5 fields, or 6 with seconds, and @daily-style names);
time zones by zoneinfo, so a 02:30 job on a day that skips 02:30 runs when the clock jumps.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

from croniter import CroniterBadDateError, croniter

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|w|d|h|m|s)")
_UNITS = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
#: Slots counted at most when looking back over a long silence.
MAX_SLOTS = 1000
MAX_CRON_CHARS = 200


class ScheduleError(ValueError):
    """A schedule or duration cannot be read; the message says why."""


def parse_duration(value: object, name: str) -> timedelta:
    """'6h', '1h30m', '90s', '2d', '1w', '250ms', or a number of seconds."""
    if isinstance(value, bool):
        raise ScheduleError(f"{name} must be a duration like '5m' or seconds, not {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        parts = list(_DURATION.finditer(text))
        if not text or "".join(p.group(0) for p in parts) != text:
            raise ScheduleError(f"{name}: {value!r} is not a duration like '90s', '5m', '1h30m'")
        seconds = sum(float(p.group(1)) * _UNITS[p.group(2)] for p in parts)
    else:
        raise ScheduleError(f"{name} must be a duration like '5m' or seconds, not {value!r}")
    if not 0 < seconds <= 366 * 86400:
        raise ScheduleError(f"{name} must be more than 0 and at most a year, not {value!r}")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest spelling: 90 s -> '1m30s'."""
    total_ms = round(value.total_seconds() * 1000)
    out = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        count, total_ms = divmod(total_ms, size)
        if count:
            out.append(f"{count}{unit}")
    if total_ms:
        out.append(f"{total_ms}ms")
    return "".join(out) or "0s"


@dataclass(frozen=True, slots=True)
class Schedule:
    """Either `every` (a period after the last start) or `cron` (fixed slots in `timezone`)."""

    every: timedelta | None = None
    cron: str | None = None
    timezone: str = "UTC"

    @classmethod
    def of(cls, every: object, cron: object, timezone: object) -> Schedule | None:
        if every is not None and cron is not None:
            raise ScheduleError("give either every or cron, not both")
        if timezone is not None and cron is None:
            raise ScheduleError("timezone applies to a cron schedule only")
        if every is not None:
            period = parse_duration(every, "every")
            if period < timedelta(seconds=1):
                raise ScheduleError("every must be at least 1s")
            return cls(every=period)
        if cron is None:
            return None
        if not isinstance(cron, str) or len(cron) > MAX_CRON_CHARS:
            raise ScheduleError(f"cron must be a cron line of at most {MAX_CRON_CHARS} characters")
        if not croniter.is_valid(cron.strip()):
            raise ScheduleError(f"cron: {cron!r} is not a valid cron expression")
        zone = "UTC" if timezone is None else timezone
        if not isinstance(zone, str):
            raise ScheduleError(f"timezone must be a name like 'Europe/Berlin', not {zone!r}")
        if zone not in _zone_names():
            # Checked against the list, not by opening the file: ZoneInfo('Europe') or a
            # 300-character name raise OSError, and 'zone.tab' is a file but not a zone.
            raise ScheduleError(f"timezone: {_clip(zone)} is not a known time zone")
        schedule = cls(cron=" ".join(cron.split()), timezone=zone)
        try:
            schedule.next_after(datetime.now(UTC))
        except CroniterBadDateError:
            # Valid field by field, yet no date has them all: '0 0 30 2 *' (30 February).
            raise ScheduleError(
                f"cron: {cron!r} never comes round: no date matches all of its fields"
            ) from None
        return schedule

    def next_after(self, when: datetime) -> datetime:
        """The first expected start strictly after `when`."""
        if self.every is not None:
            return when + self.every
        assert self.cron is not None
        local = when.astimezone(ZoneInfo(self.timezone))
        found: datetime = croniter(self.cron, local).get_next(datetime)
        return found

    def slots_due(self, first: datetime, until: datetime) -> tuple[datetime, int]:
        """From slot `first` on, the last slot at or before `until` and how many there are
        (cron: counted up to MAX_SLOTS; a longer silence is caught up over later ticks)."""
        if self.every is not None:
            periods = int((until - first) / self.every) if until > first else 0
            return first + periods * self.every, periods + 1
        last, count = first, 1
        while count < MAX_SLOTS:
            following = self.next_after(last)
            if following > until:
                break
            last, count = following, count + 1
        return last, count

    def describe(self) -> dict[str, str]:
        if self.every is not None:
            return {"every": format_duration(self.every)}
        assert self.cron is not None
        return {"cron": self.cron, "timezone": self.timezone}


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def _clip(text: str) -> str:
    shown = repr(text)
    return shown if len(shown) <= 60 else shown[:57] + "..."
