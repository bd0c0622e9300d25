"""Is a finished run unlike the job's own recent successful runs?

Durations and counters are positive and skewed (a backup takes 10 minutes, sometimes 14,
never -3), so they are compared on a log scale: the band is the median of the recent
values ± k robust standard deviations (1.4826 * the median absolute deviation), and never
narrower than a factor of two either way, so a job whose runs are all alike is not flagged
for the ordinary wobble of a few percent. Median and MAD, unlike mean and standard
deviation, are not dragged along by the odd outlier already in the history.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

#: 1.4826 * MAD estimates the standard deviation of normally distributed values.
MAD_TO_SIGMA = 1.4826
#: The band's smallest half-width on the log scale: a factor of two.
MIN_HALF_WIDTH = math.log(2)


@dataclass(frozen=True, slots=True)
class Outlier:
    """A value outside its band: what it was, what was usual, from how many runs."""

    measure: str
    value: float
    median: float
    low: float
    high: float
    history: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "median": round(self.median, 3),
            "low": round(self.low, 3),
            "high": round(self.high, 3),
            "history": self.history,
        }


def _log(x: float) -> float:
    """log(1 + |x|) with the sign of x: defined at 0 and for the odd negative counter."""
    return math.copysign(math.log1p(abs(x)), x)


def _exp(y: float) -> float:
    return math.copysign(math.expm1(abs(y)), y)


def judge(
    measure: str, value: float, history: list[float], k: float, min_history: int
) -> Outlier | None:
    """An Outlier when `value` falls outside the band of `history`, else None."""
    if len(history) < min_history:
        return None
    logs = [_log(v) for v in history]
    center = statistics.median(logs)
    mad = statistics.median(abs(v - center) for v in logs)
    half_width = max(k * MAD_TO_SIGMA * mad, MIN_HALF_WIDTH)
    if abs(_log(value) - center) <= half_width:
        return None
    return Outlier(
        measure,
        value,
        _exp(center),
        _exp(center - half_width),
        _exp(center + half_width),
        len(history),
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def outliers(
    duration_ms: int | None,
    counters: dict[str, Any],
    history: list[tuple[int | None, dict[str, Any]]],
    *,
    names: tuple[str, ...] | None,
    k: float,
    min_history: int,
) -> list[Outlier]:
    """The run's duration and counters (all, or `names`) that fall outside their bands."""
    found = []
    if duration_ms is not None:
        durations = [float(d) for d, _ in history if d is not None]
        outlier = judge("duration_ms", float(duration_ms), durations, k, min_history)
        if outlier is not None:
            found.append(outlier)
    for name in names if names is not None else sorted(counters):
        value = _number(counters.get(name))
        if value is None:
            continue
        past = [v for _, c in history if (v := _number(c.get(name))) is not None]
        outlier = judge(f"counters.{name}", value, past, k, min_history)
        if outlier is not None:
            found.append(outlier)
    return found
