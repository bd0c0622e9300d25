"""The comparison of two runs as a short list a person reads on the run page:
"new error in SAVE: 'row 17: bad date' x12", "took 4 min 12 s, usually 1-4 min",
"files 0, usually 40-42" (with a real dash and times sign). Only what stands out is said;
the numbers are in the answer."""

from __future__ import annotations

import math
from typing import Any

DASH = "\u2013"  # en dash, between the ends of a range
TIMES = "\u00d7"  # how many lines had an error: x12
#: New (and gone) errors named one by one; past this, "and N more".
MAX_ERRORS = 3
MAX_MESSAGE = 80
#: A step is said to be slower when it took this many times as long, and a second more.
SLOWER_FACTOR = 2
SLOWER_MIN_MS = 1000
#: An attribute is said to be unusual only when the job's runs mostly share a few values
#: (a version, a host), not when it changes every run (a file name, an id).
STABLE_SHARE = 0.8
#: A log level's count is said to be unusual when outside the usual range by this many.
LOG_LINES_MIN = 5


def duration_text(ms: float) -> str:
    """4 min 12 s, 850 ms, 2 h 5 min, 3.5 s."""
    if ms < 1000:
        return f"{round(ms)} ms"
    seconds = ms / 1000
    if seconds < 10:
        return f"{seconds:.1f} s".replace(".0 s", " s")
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def duration_range(low_ms: float, high_ms: float) -> str:
    """'1-4 min', '3-12 s', '20 s-2 min' (an en dash): the ends rounded outwards to the unit
    of the longer one, so the range said holds the real one."""
    for unit_ms, unit in ((3_600_000, "h"), (60_000, "min"), (1000, "s"), (1, "ms")):
        if high_ms >= unit_ms or unit == "ms":
            low, high = math.floor(low_ms / unit_ms), math.ceil(high_ms / unit_ms)
            if low == 0 and unit_ms > 1 and low_ms > 0:
                return f"{duration_text(low_ms)}{DASH}{high} {unit}"
            return f"{low} {unit}" if low == high else f"{low}{DASH}{high} {unit}"
    raise AssertionError("unreachable")


def number_range(low: float, high: float, whole: bool = False) -> str:
    """'40-42' (an en dash): rounded outwards to whole numbers when they are counts or the
    range spans one or more."""
    ends: tuple[float, float] = (low, high)
    if whole or high - low >= 1:
        ends = (math.floor(low), math.ceil(high))
    text_low, text_high = number_text(ends[0]), number_text(ends[1])
    return text_low if text_low == text_high else f"{text_low}{DASH}{text_high}"


def lines_range(low: float, high: float) -> str:
    return number_range(low, high, whole=True)


def number_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{round(value, 3):,}"
    return _value_text(value)


def _value_text(value: Any) -> str:
    if isinstance(value, str):
        return value if len(value) <= MAX_MESSAGE else value[: MAX_MESSAGE - 1] + "…"
    if value is None:
        return "none"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _quoted(message: str) -> str:
    return f"'{_value_text(message)}'"


def _usual_range(usual: dict[str, Any] | None, show: Any = number_range) -> str | None:
    if usual is None:
        return None
    return str(show(float(usual["p5"]), float(usual["p95"])))


def _outside(value: float, usual: dict[str, Any] | None) -> bool:
    return usual is not None and not usual["p5"] <= value <= usual["p95"]


def _errors(answer: dict[str, Any], label: str) -> list[str]:
    lines = []
    new, gone = answer["errors"]["new"], answer["errors"]["gone"]
    for error in new[:MAX_ERRORS]:
        where = f" in {error['step']}" if error["step"] else ""
        message = _quoted(error["sample"]["message"])
        lines.append(f"new error{where}: {message} {TIMES}{error['count']}")
    if len(new) > MAX_ERRORS:
        lines.append(f"and {len(new) - MAX_ERRORS} more new errors")
    for error in gone[:MAX_ERRORS]:
        lines.append(
            f"no longer: {_quoted(error['sample']['message'])} ({TIMES}{error['count']} in {label})"
        )
    if len(gone) > MAX_ERRORS:
        lines.append(f"and {len(gone) - MAX_ERRORS} more errors gone")
    return lines


def _lost_lines(answer: dict[str, Any]) -> list[str]:
    """Lines the run numbered that never came, as "2 of 20 log lines missing (seq 12-13)"
    (with an en dash): what its logs say may not be all it did."""
    figures = answer.get("log_completeness")
    if not figures or figures["state"] != "missing":
        return []
    text = f"{figures['missing']:,} of {figures['expected']:,} log lines missing"
    if figures["gaps"]:
        ranges = [str(a) if a == b else f"{a}{DASH}{b}" for a, b in figures["gaps"]]
        text += f" (seq {', '.join(ranges)})"
    return [text]


def _duration(answer: dict[str, Any], label: str) -> list[str]:
    figures = answer["duration"]
    if figures["ms"] is None:
        return []
    text = f"took {duration_text(figures['ms'])}"
    usual = _usual_range(figures["usual"], duration_range)
    if usual is not None:
        text += f", usually {usual}"
    if figures["with_ms"] is not None:
        text += f" ({duration_text(figures['with_ms'])} in {label})"
    return [text]


def _steps(answer: dict[str, Any], label: str) -> list[str]:
    if answer["with"] is None:
        return []
    lines = []
    for step in answer["steps"]:
        name, ms, with_ms = step["step"], step["ms"], step["with_ms"]
        if step["in"] == "with":
            lines.append(f"step {name} did not run (it did in {label})")
        elif step["in"] == "run":
            lines.append(f"step {name} ran ({duration_text(ms)}), not in {label}")
        elif ms >= SLOWER_FACTOR * with_ms and ms - with_ms >= SLOWER_MIN_MS:
            lines.append(
                f"step {name} took {duration_text(ms)} ({duration_text(with_ms)} in {label})"
            )
    return lines


def _log_counts(answer: dict[str, Any], label: str) -> list[str]:
    lines = []
    for level, figures in answer["log_counts"].items():
        count, usual, other = figures["count"], figures["usual"], figures["with"]
        if usual is not None:
            if _outside(count, usual) and abs(count - usual["p50"]) >= LOG_LINES_MIN:
                lines.append(f"{level} lines {count:,}, usually {_usual_range(usual, lines_range)}")
        elif other is not None and abs(count - other) >= LOG_LINES_MIN:
            lines.append(f"{level} lines {count:,} ({other:,} in {label})")
    return lines


def _counters(answer: dict[str, Any], label: str) -> list[str]:
    lines = []
    for item in answer["counters"]:
        key, value, usual = item["key"], item["value"], item["usual"]
        number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
        if usual is not None and number is not None:
            if _outside(number, usual):
                lines.append(f"{key} {number_text(value)}, usually {_usual_range(usual)}")
        elif answer["with"] is not None:
            lines.append(f"{key} {number_text(value)} ({number_text(item['with'])} in {label})")
    return lines


def _attrs(answer: dict[str, Any], label: str) -> list[str]:
    lines = []
    for item in answer["attrs"]:
        key, value, usual = item["key"], item["value"], item["usual"]
        if usual is not None:
            common = usual["values"]
            if sum(v["runs"] for v in common) < STABLE_SHARE * usual["runs"]:
                continue  # it changes from run to run: a difference says nothing
            if any(v["value"] == value for v in common):
                continue
            values = " or ".join(_value_text(v["value"]) for v in common)
            lines.append(f"{key} {_value_text(value)}, usually {values}")
        elif answer["with"] is not None:
            lines.append(f"{key} {_value_text(value)} ({_value_text(item['with'])} in {label})")
    return lines


def summary(answer: dict[str, Any]) -> list[str]:
    """What stands out, most telling first: errors, lost log lines, time, steps, log volume,
    counters, attributes."""
    other = answer["with"]
    if other is None:
        label = ""
    elif answer["with_reason"] == "last_success":
        label = "the last success"
    else:
        label = f"run {other['run_id'][:8]}"
    return [
        *_errors(answer, label),
        *_lost_lines(answer),
        *_duration(answer, label),
        *_steps(answer, label),
        *_log_counts(answer, label),
        *_counters(answer, label),
        *_attrs(answer, label),
    ]
