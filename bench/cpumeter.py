"""CPU time used by groups of processes over a measurement, read from /proc (Linux)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path


def _ticks(pid: int) -> int:
    """CPU time (user + system) of a process so far, in clock ticks."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError):
        return 0


class CpuMeter:
    """CPU time of groups of processes over a measurement, and of everything else on the
    machine ("others": on a shared host, other tenants show up there)."""

    HZ = os.sysconf("SC_CLK_TCK")

    def __init__(self, **groups: Callable[[], list[int]]) -> None:
        self.groups = groups
        self.seconds: dict[str, float] = {}

    def _sample(self) -> dict[str, dict[int, int]]:
        out = {name: {pid: _ticks(pid) for pid in pids()} for name, pids in self.groups.items()}
        with contextlib.suppress(OSError):
            cpu = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
            out["machine"] = {0: sum(cpu) - cpu[3] - cpu[4]}  # all but idle and iowait
        return out

    def start(self) -> None:
        self.t0, self.before = time.monotonic(), self._sample()

    def stop(self) -> CpuMeter:
        after, self.wall = self._sample(), time.monotonic() - self.t0
        for name, ticks in after.items():  # processes born meanwhile count from zero
            used = sum(t - self.before.get(name, {}).get(pid, 0) for pid, t in ticks.items())
            self.seconds[name] = used / self.HZ
        return self

    def per(self, name: str, count: int) -> float:
        """Microseconds of CPU per event or request."""
        return 1e6 * self.seconds[name] / max(count, 1)

    def __str__(self) -> str:
        ours = {k: v for k, v in self.seconds.items() if k != "machine"}
        if "machine" in self.seconds:
            ours["others"] = max(0.0, self.seconds["machine"] - sum(ours.values()))
        shares = ", ".join(f"{name} {100 * s / self.wall:.0f}%" for name, s in ours.items())
        return f"{shares} (of {100 * (os.cpu_count() or 1)}%)"
