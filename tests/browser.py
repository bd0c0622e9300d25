"""Real-browser testing of the dashboard: finding Chromium, and data shaped like the seeds'.

Playwright drives Debian's `chromium` (its own browser download does not work here).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
APT_TIMEOUT_S = 900


def find_chromium() -> str | None:
    for path in (os.environ.get("INGESTD_TEST_CHROMIUM"), *CHROMIUM_CANDIDATES):
        if path and os.access(path, os.X_OK):
            return path
    return shutil.which("chromium")


def chromium_or_reason() -> tuple[str | None, str]:
    """Chromium's path; if missing, install it with apt-get (as root), else say why not."""
    found = find_chromium()
    if found:
        return found, ""
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        return None, "chromium is missing and cannot be installed here (no apt-get, or not root)"
    for command in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", "chromium"]):
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=APT_TIMEOUT_S,
                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"chromium is not installed and {' '.join(command[:2])} failed: {exc}"
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
            return None, f"chromium is not installed and {' '.join(command)} failed: {tail}"
    found = find_chromium()
    return (found, "") if found else (None, "apt-get installed chromium but it is not on PATH")


# --- data shaped like the five seeds' -------------------------------------------------------


def iso(when: datetime) -> str:
    return when.isoformat()


TRACEBACK_QCI = """Traceback (most recent call last):
  File "/srv/qci/analyze.py", line 88, in analyze_call
    answer = client.chat.completions.create(model=MODEL, messages=prompt, timeout=30)
  File "/srv/qci/.venv/lib/python3.11/site-packages/openai/_base_client.py", line 1012, in request
    raise APITimeoutError(request=request)
TimeoutError: OpenAI request timed out after 30 s"""

TRACEBACK_LOGIN = """Traceback (most recent call last):
  File "/opt/profiles/maintain.py", line 41, in run_profile_automation
    session = portal.login(profile.pt_username, password)
  File "/opt/profiles/portal.py", line 77, in login
    raise AuthError("Invalid credentials")
AuthError: Invalid credentials"""
QCI_ERROR = {
    "type": "TimeoutError",
    "message": "OpenAI request timed out after 30 s",
    "stack": TRACEBACK_QCI,
}
LOGIN_ERROR = {"type": "AuthError", "message": "Invalid credentials", "stack": TRACEBACK_LOGIN}


class Seed:
    """Runs and logs like the seeds' systems, over the last week, as /v1/events events."""

    def __init__(self, now: datetime | None = None, rng_seed: int = 7) -> None:
        self.now = now or datetime.now(UTC)
        self.rng = random.Random(rng_seed)
        self.events: list[dict[str, Any]] = []
        self.ids: dict[str, str] = {}
        self._build()

    def _run(
        self,
        job: str,
        started: datetime,
        steps: list[tuple[str, str, float]],
        *,
        status: str | None,
        trigger: str = "cron",
        counters: dict[str, float] | None = None,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
        attrs: dict[str, Any] | None = None,
        progress: float | None = None,
        extra_logs: list[dict[str, Any]] | None = None,
    ) -> str:
        run_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        start: dict[str, Any] = {
            "kind": "run",
            "run_id": run_id,
            "job": job,
            "status": "running",
            "trigger": trigger,
            "started_at": iso(started),
        }
        if attrs:
            start["attrs"] = attrs
        self.events.append(start)
        at = started
        for step, message, seconds in steps:
            at += timedelta(seconds=seconds)
            self.events.append(
                {
                    "run_id": run_id,
                    "job": job,
                    "ts": iso(at),
                    "level": "info",
                    "step": step,
                    "message": message,
                    "source": {
                        "module": job.replace("-", "_"),
                        "function": step.lower(),
                        "line": 40,
                    },
                }
            )
        for log in extra_logs or []:
            at += timedelta(seconds=log.pop("after", 1.0))
            self.events.append({"run_id": run_id, "job": job, "ts": iso(at), **log})
        if status is None:  # still running
            update: dict[str, Any] = {"kind": "run", "run_id": run_id, "ts": iso(at)}
            if progress is not None:
                update["progress"] = progress
            if steps:
                update["step"] = steps[-1][0]
            if counters:
                update["counters"] = counters
            self.events.append(update)
            return run_id
        end: dict[str, Any] = {
            "kind": "run",
            "run_id": run_id,
            "status": status,
            "finished_at": iso(at + timedelta(seconds=0.5)),
        }
        for key, value in (("counters", counters), ("result", result), ("error", error)):
            if value is not None:
                end[key] = value
        self.events.append(end)
        return run_id

    def _build(self) -> None:
        now, rng = self.now, self.rng
        # 002: cron jobs syncing call data, steps START/FETCH/SAVE/END, counters.
        for i in range(12):
            started = now - timedelta(hours=6 * (12 - i) + 1, minutes=rng.randint(0, 20))
            fetched = rng.randint(80, 400)
            broken = i == 5
            self._run(
                "vapi-sync",
                started,
                [
                    ("START", "Starting VAPI synchronization", 0.2),
                    ("FETCH", "Fetching calls from VAPI API...", rng.uniform(2, 9)),
                    ("FETCH", f"Fetched {fetched} calls", 0.3),
                    *(
                        []
                        if broken
                        else [
                            ("SAVE", "Saving to PostgreSQL...", rng.uniform(1, 4)),
                            ("SAVE", f"Saved {fetched} calls successfully", 0.2),
                            ("END", "Sync completed", 0.1),
                        ]
                    ),
                ],
                status="failed" if broken else "success",
                counters={"records_fetched": fetched, "records_inserted": 0 if broken else fetched},
                error={"type": "HTTPError", "message": "VAPI API returned 503"} if broken else None,
                extra_logs=[
                    {
                        "level": "error",
                        "step": "FETCH",
                        "message": "VAPI API returned 503",
                        "error": {"type": "HTTPError", "message": "VAPI API returned 503"},
                    }
                ]
                if broken
                else None,
            )
        # 002: QCI analysis with API cost; the latest run failed with a stack.
        for i in range(6):
            started = now - timedelta(days=5 - i, hours=2, minutes=rng.randint(0, 30))
            last = i == 5
            calls = rng.randint(10, 60)
            run_id = self._run(
                "qci-analysis",
                started,
                [
                    ("START", "Starting QCI analysis", 0.1),
                    ("FETCH", f"Found {calls} calls to analyze", 1.5),
                    ("ANALYZE", f"Analyzed call {rng.randint(1000, 9999)}", rng.uniform(5, 30)),
                ],
                status="failed" if last else "success",
                counters={
                    "calls_analyzed": calls - (3 if last else 0),
                    "api_cost": round(calls * 0.013, 3),
                },
                error=QCI_ERROR if last else None,
                result=None if last else {"average_qci": round(rng.uniform(60, 90), 1)},
                extra_logs=[
                    {
                        "level": "warning",
                        "step": "ANALYZE",
                        "message": "Retrying call analysis (attempt 2)",
                        "attrs": {"call_id": "c-4411", "attempt": 2},
                    },
                    {
                        "level": "error",
                        "step": "ANALYZE",
                        "message": "OpenAI request timed out after 30 s",
                        "error": QCI_ERROR,
                        "attrs": {"call_id": "c-4411", "qci_cost": 0.013},
                        "after": 30,
                    },
                ]
                if last
                else None,
            )
            if last:
                self.ids["failed"] = run_id
        # 001: ATM retrieval with phases and terminals; the latest ends with a warning.
        for i in range(5):
            started = now - timedelta(days=4 - i, hours=5)
            last = i == 4
            self._run(
                "atm-retrieval",
                started,
                [
                    ("CONNECTIVITY", "Checking connectivity to the ATM network", 0.4),
                    ("AUTH", "Authenticated with the regional gateway", 1.1),
                    (
                        "DATA_RETRIEVAL",
                        "Retrieved regional records for 14 terminals",
                        rng.uniform(20, 60),
                    ),
                    ("SAVE", "Saved terminal details", 2.0),
                ],
                status="warning" if last else "success",
                attrs={"demo_mode": False, "total_atms": 14},
                counters={
                    "regional_records_processed": 14,
                    "terminal_details_processed": 12 if last else 14,
                },
                extra_logs=[
                    {
                        "level": "warning",
                        "step": "DATA_RETRIEVAL",
                        "message": f"Terminal {tid} did not answer; failover used",
                        "attrs": {"terminal_id": tid, "region_code": "NE"},
                    }
                    for tid in ("ATM-0007", "ATM-0011")
                ]
                if last
                else None,
            )
        # 000: profile maintenance per profile; one login failure with a stack.
        for i, (profile, outcome) in enumerate(
            [("john_therapist", "success"), ("jane_counselor", "failed"), ("amy_coach", "success")]
        ):
            started = now - timedelta(days=1, hours=3 - i)
            self._run(
                "profile-maintenance",
                started,
                [
                    ("LOGIN", f"Logging in as {profile}", 1.2),
                    *(
                        []
                        if outcome == "failed"
                        else [("EDIT", "Updated headline and specialties", 3.0)]
                    ),
                ],
                status=outcome,
                trigger="manual",
                attrs={"profile": profile},
                counters={"fields_edited": 0 if outcome == "failed" else 5},
                error=LOGIN_ERROR if outcome == "failed" else None,
                extra_logs=[
                    {
                        "level": "error",
                        "step": "LOGIN",
                        "message": f"Error processing profile {profile}: Invalid credentials",
                        "error": LOGIN_ERROR,
                    }
                ]
                if outcome == "failed"
                else None,
            )
        # 003/004: imports with progress and file sizes; one running now, one timed out.
        for i, status in enumerate(["success", "timed_out", "success", "cancelled"]):
            started = now - timedelta(days=3 - i, hours=1)
            self._run(
                "backup-import",
                started,
                [
                    ("DOWNLOAD", "Downloaded numwatch-backup.json", 4.0),
                    ("IMPORT", "Importing games and results", 12.0 + 40 * i),
                ],
                status=status,
                trigger="api",
                counters={
                    "records_processed": 1200 + 10 * i,
                    "games_created": 40,
                    "file_size": 5_242_880,
                },
            )
        self.ids["running"] = self._run(
            "backup-import",
            now - timedelta(minutes=3),
            [
                ("DOWNLOAD", "Downloaded numwatch-backup-2025-06-27.json", 4.0),
                ("IMPORT", "Importing games and results", 20.0),
            ],
            status=None,
            trigger="api",
            progress=40,
            counters={"records_processed": 480, "file_size": 5_242_880},
        )
