"""Fourteen days of seventeen jobs, to see a filled dashboard (and try the questions on it).

    INGESTD_URL=... INGESTD_TOKEN=... [INGESTD_ADMIN_TOKEN=...] python examples/demo_history.py

The jobs are the five seed systems' (profile maintenance, ATM retrieval, the call syncs, backups
and file imports) and common cron work: hourly syncs, nightly backups, imports and reports, a
weekly purge. Each run has its steps, counters, version and host, durations with noise, and
now and then a failure with an error line and its stack, or warnings. Besides, on purpose:

- orders-import: version 1.9.0, deployed two days ago at 10:00 UTC, fails in TRANSFORM until
  1.9.1 fixes it at 15:00 (open a failed run: "Since the last success" names the version);
- search-reindex: failing now (its last two runs); nightly-backup: three days ago a slow run;
- atm-retrieval: yesterday's 12:00 run lost the lines of two terminals (a gap in its logs);
- warehouse-etl: its latest run started hours ago and went quiet in LOAD (stuck: far longer
  than usual; a backfill's lines count as received now, so it is not yet silent);
- report-export: stopped four days ago; its schedule is set, and the slots it missed are
  recorded as ingestd's monitor records them (a schedule set today would only count slots
  from today on); invoice-reminders: a schedule, no run yet (waiting).

Plain HTTP (POST /v1/events as NDJSON, times in the past), no client needed. Deterministic:
each run's content and ids come from its job and slot, so loading twice the same day stores
nothing twice (event ids); on a later day the newest slots are added. The schedules are set
with PUT /v1/jobs/{job}: INGESTD_ADMIN_TOKEN (default INGESTD_TOKEN) needs the admin scope.
"""

from __future__ import annotations

import json
import os
import random
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

DAYS = 14
NAMESPACE = uuid.UUID("6c1b3a8e-0d51-4a44-9a43-1f3e2d7c5b10")
H, M = timedelta(hours=1), timedelta(minutes=1)


@dataclass(frozen=True)
class Job:
    name: str
    every: timedelta
    at: timedelta  # the first slot after midnight UTC
    seconds: float  # a usual run's duration
    steps: tuple[str, ...]
    counters: dict[str, tuple[float, float]]  # name: (low, high)
    schedule: dict[str, str]
    host: str = "cron-01"
    version: str = "1.0.0"
    fail_rate: float = 0.0
    failure: tuple[str, str, str] = ("", "", "")  # step, error type, message
    warn_rate: float = 0.0
    warning: str = "retrying after a timeout"
    trigger: str = "cron"
    detail: dict[str, str] = field(default_factory=dict)  # step: what it logs


JOBS = [
    Job("vapi-sync", H, 5 * M, 48, ("START", "FETCH", "SAVE", "END"),
        {"records_fetched": (80, 160), "api_cost": (0.01, 0.02)}, {"cron": "5 * * * *"},
        fail_rate=0.02, failure=("SAVE", "TimeoutError", "database timed out saving page 3"),
        detail={"FETCH": "fetched {records_fetched} calls", "SAVE": "saved 3 pages"}),
    Job("qci-analysis", H, 35 * M, 95, ("START", "ANALYZE", "SAVE", "END"),
        {"calls_analyzed": (20, 45), "api_cost": (0.06, 0.14)}, {"cron": "35 * * * *"},
        warn_rate=0.08, warning="OpenAI rate limit hit, backing off 20 s",
        detail={"ANALYZE": "analyzed {calls_analyzed} calls"}),
    Job("orders-import", H, 20 * M, 70, ("DOWNLOAD", "TRANSFORM", "LOAD"),
        {"orders": (40, 400), "rows_loaded": (40, 400)}, {"cron": "20 * * * *"},
        host="etl-02", version="1.8.2", detail={"DOWNLOAD": "downloaded {orders} orders"}),
    Job("cache-warmup", 30 * M, 10 * M, 12, ("WARM",), {"urls": (180, 220)},
        {"every": "30m"}, host="web-01", warn_rate=0.05, warning="3 URLs answered 502",
        detail={"WARM": "warmed {urls} URLs"}),
    Job("fx-rates-fetch", 2 * H, 0 * M, 4, ("FETCH", "SAVE"), {"currencies": (31, 31)},
        {"every": "2h"}, fail_rate=0.03,
        failure=("FETCH", "HTTPError", "503 Service Unavailable from api.exchangerate.host")),
    Job("atm-retrieval", 4 * H, 0 * M, 140,
        ("CONNECTIVITY", "AUTH", "REGIONAL", "TERMINALS", "SAVE"),
        {"terminal_details_processed": (14, 14), "regions": (3, 3)}, {"every": "4h"},
        host="atm-gw", version="3.2.0", warn_rate=0.1, warning="ATM-07 answered slowly (8.2 s)"),
    Job("profile-maintenance", 6 * H, 30 * M, 210, ("LOGIN", "EDIT", "SAVE"),
        {"profiles_processed": (3, 3), "fields_edited": (2, 9)}, {"every": "6h"},
        host="bot-01", fail_rate=0.05,
        failure=("LOGIN", "AuthError", "login rejected: password expired for profile 2"),
        detail={"EDIT": "edited {fields_edited} fields"}),
    Job("search-reindex", 6 * H, 2 * H, 400, ("SNAPSHOT", "INDEX", "SWAP"),
        {"documents": (118000, 121000)}, {"every": "6h"}, host="search-01", version="2.0.4"),
    Job("db-vacuum", 24 * H, 1 * H, 300, ("VACUUM", "ANALYZE"), {"tables": (42, 42)},
        {"cron": "0 1 * * *"}, host="db-01"),
    Job("nightly-backup", 24 * H, 2 * H, 1500, ("DUMP", "COMPRESS", "UPLOAD", "VERIFY"),
        {"tables_dumped": (5, 5), "archive_mb": (780, 830)}, {"cron": "0 2 * * *"},
        host="db-01", detail={"UPLOAD": "uploaded {archive_mb} MB to s3://backups/"}),
    Job("numwatch-import", 24 * H, 3 * H + 15 * M, 260, ("READ", "VALIDATE", "IMPORT"),
        {"records_processed": (380, 420), "games_created": (35, 42), "records_failed": (0, 0),
         "file_size": (180000, 220000)}, {"cron": "15 3 * * *"}, host="etl-02",
        warn_rate=0.25, warning="record g17: bad date '2025-13-01', skipped"),
    Job("disk-cleanup", 24 * H, 4 * H + 40 * M, 9, ("RUN",), {"freed_mb": (200, 1400)},
        {"cron": "40 4 * * *"}, trigger="ping", detail={"RUN": "freed {freed_mb} MB in /var/tmp"}),
    Job("report-export", 24 * H, 5 * H, 180, ("QUERY", "RENDER", "UPLOAD"), {"reports": (12, 12)},
        {"cron": "0 5 * * *", "grace": "30m"}, host="cron-02"),
    Job("cert-check", 24 * H, 6 * H, 6, ("CHECK",), {"certificates": (9, 9)},
        {"cron": "0 6 * * *"}, warn_rate=0.3, warning="api.example.com expires in 12 days"),
    Job("gdpr-purge", 7 * 24 * H, 3 * 24 * H + 4 * H, 900, ("SELECT", "DELETE"),
        {"users_purged": (30, 90)}, {"cron": "0 4 * * 0"}, host="db-01"),  # Sundays
    Job("warehouse-etl", 4 * H, 30 * M, 1500, ("EXTRACT", "LOAD", "PUBLISH"),
        {"rows": (2_000_000, 2_400_000)}, {"every": "4h"}, host="etl-01", version="5.1.0"),
    Job("invoice-reminders", 24 * H, 9 * H, 30, ("SEND",), {}, {"cron": "0 9 * * 1-5"}),
]  # fmt: skip

STACK = (
    'Traceback (most recent call last):\n  File "/srv/{job}/{module}.py", line {line}, in run\n'
    "    {code}\n{type}: {message}"
)


class Run:
    def __init__(self, job: Job, slot: datetime, rng: random.Random) -> None:
        self.job, self.slot, self.rng = job, slot, rng
        self.id = str(uuid.uuid5(NAMESPACE, f"{job.name}\n{slot.isoformat()}"))
        self.version = job.version
        self.counters = {k: number(rng.triangular(*r), r[1]) for k, r in job.counters.items()}
        self.seconds = job.seconds * rng.lognormvariate(0, 0.18)
        self.failure: tuple[str, str, str] | None = None
        if rng.random() < job.fail_rate:
            self.failure = job.failure
        self.warn = rng.random() < job.warn_rate
        self.lost: set[str] = set()  # messages numbered but never sent
        self.running = False

    def lines(self) -> Iterator[tuple[str, str, str, dict[str, Any], dict[str, str] | None]]:
        """(level, step, message, attrs, error) in order; stops at the failing step."""
        for step in self.job.steps:
            yield "info", step, f"{step} started", {}, None
            if self.job.name == "atm-retrieval" and step == "TERMINALS":
                for n in range(1, 15):
                    region = ("north", "south", "east")[n % 3]
                    msg = f"ATM-{n:02d}: {self.rng.randint(40, 300)} transactions retrieved"
                    yield (
                        "info",
                        step,
                        msg,
                        {"terminal_id": f"ATM-{n:02d}", "region_code": region},
                        None,
                    )
            if step in self.job.detail:
                yield "info", step, self.job.detail[step].format(**self.counters), {}, None
            if self.warn and step == self.job.steps[-1]:
                yield "warning", step, self.job.warning, {}, None
            if self.failure and self.failure[0] == step:
                _, kind, message = self.failure
                stack = STACK.format(
                    job=self.job.name, module=step.lower(), line=40 + len(step), type=kind,
                    message=message, code=f"{step.lower()}(batch)",
                )  # fmt: skip
                error = {"type": kind, "message": message, "stack": stack}
                yield "error", step, f"{step} failed: {kind}: {message}", {}, error
                return
            if self.running and step == "LOAD":
                yield "info", step, "loading fact_orders (2.1 M rows)", {}, None
                return
            yield "info", step, f"{step} done", {}, None

    def build(self) -> list[dict[str, Any]]:
        job, at = self.job, self.slot + timedelta(seconds=self.rng.uniform(0.2, 3))
        attrs = {"version": self.version, "host": job.host}
        start = {"kind": "run", "run_id": self.id, "job": job.name, "status": "running",
                 "trigger": job.trigger, "started_at": iso(at), "ts": iso(at),
                 "attrs": attrs}  # fmt: skip
        events: list[dict[str, Any]] = [start]
        lines = list(self.lines())
        step_of = self.seconds / max(len(lines), 1)
        ts = at
        for seq, (level, step, message, line_attrs, error) in enumerate(lines):
            ts = at + timedelta(seconds=step_of * (seq + self.rng.uniform(0.1, 0.9)))
            if message in self.lost or line_attrs.get("terminal_id") in self.lost:
                continue
            log = {"run_id": self.id, "job": job.name, "ts": iso(ts), "level": level, "step": step,
                   "message": message, "seq": seq, "event_id": f"{self.id}:{seq}",
                   "source": {"host": job.host, "logger": job.name}}  # fmt: skip
            if line_attrs:
                log["attrs"] = line_attrs
            if error:
                log["error"] = error
            events.append(log)
        if self.running:
            return events
        end = at + timedelta(seconds=self.seconds)
        status = "failed" if self.failure else "warning" if self.warn else "success"
        finish = {"kind": "run", "run_id": self.id, "status": status, "finished_at": iso(end),
                  "ts": iso(end), "counters": self.counters, "log_lines": len(lines),
                  "step": lines[-1][1] if lines else None}  # fmt: skip
        if self.failure:  # it stopped early: only the first counter got counted
            finish["error"] = next(e for *_, e in lines if e)
            finish["counters"] = dict(list(self.counters.items())[:1])
        else:
            finish["progress"] = 100
        events.append(finish)
        return events


def number(value: float, high: float) -> float:
    return round(value, 4) if high < 1 else int(value)


def iso(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds")


def slots(job: Job, now: datetime) -> Iterator[datetime]:
    midnight = (now - timedelta(days=DAYS)).replace(hour=0, minute=0, second=0, microsecond=0)
    slot = midnight + job.at
    while slot < now - timedelta(seconds=job.seconds * 1.5):  # leave the slot under way out
        if slot >= now - timedelta(days=DAYS):
            yield slot
        slot += job.every


def twist(run: Run, now: datetime, latest: datetime) -> Run | None:
    """The stories told above; None drops the run (it never happened)."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    name, slot = run.job.name, run.slot
    if name == "orders-import":
        broken = today - timedelta(days=2) + 10 * H
        if slot >= broken:
            run.version = "1.9.0" if slot < broken + 5 * H else "1.9.1"
        if broken <= slot < broken + 5 * H:
            run.failure = ("TRANSFORM", "KeyError", "'customer_ref'")
            run.seconds *= 0.4
    elif name == "search-reindex" and slot > latest - 12 * H:
        run.failure = ("INDEX", "ClusterBlockException",
                       "index [orders-v7] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded "
                       "flood-stage watermark]")  # fmt: skip
    elif name == "nightly-backup" and slot.date() == (today - timedelta(days=3)).date():
        run.seconds *= 3.4
        run.warn, run.job = True, replace(run.job, warning="upload retried 4 times")
    elif name == "atm-retrieval" and slot == today - 12 * H:
        run.lost = {"ATM-09", "ATM-10"}
    elif name == "warehouse-etl" and slot > now - 6 * H:
        if slot > now - 2 * H:
            return None  # the stuck run holds the lock: later slots do not start
        run.running = True
    elif name == "report-export" and slot >= today - timedelta(days=3):
        return None  # stopped: see missed()
    elif name == "invoice-reminders":
        return None  # waiting for its first run
    elif name == "numwatch-import" and run.warn:
        run.counters["records_failed"] = 1
    return run


def missed(now: datetime) -> list[dict[str, Any]]:
    """report-export's missed slots, as the monitor records them (see docs/monitoring.md)."""
    job = next(j for j in JOBS if j.name == "report-export")
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    events = []
    for slot in slots(job, now):
        if slot < today - timedelta(days=3) or slot + 30 * M > now:
            continue
        run_id = str(uuid.uuid5(NAMESPACE, f"{job.name}\nmissed\n{slot.isoformat()}"))
        message = f"no run started by {iso(slot + 30 * M)} (due {iso(slot)}, grace 30 min)"
        events.append({"kind": "run", "run_id": run_id, "job": job.name, "status": "failed",
                       "trigger": "schedule", "started_at": iso(slot), "finished_at": iso(slot),
                       "ts": iso(slot), "error": {"type": "Missed", "message": message},
                       "attrs": {"missed": True, "missed_runs": 1}})  # fmt: skip
    return events


def history(now: datetime) -> Iterator[dict[str, Any]]:
    for job in JOBS:
        planned = [
            Run(job, s, random.Random(f"{job.name}{s.isoformat()}")) for s in slots(job, now)
        ]
        latest = planned[-1].slot if planned else now
        for run in planned:
            kept = twist(run, now, latest)
            if kept is not None:
                yield from kept.build()
    yield from missed(now)


def call(method: str, path: str, token: str, body: bytes, content_type: str) -> Any:
    url = os.environ.get("INGESTD_URL", "http://127.0.0.1:8080").rstrip("/") + path
    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("Content-Type", content_type)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read() or b"null")


def main() -> None:
    token = os.environ.get("INGESTD_TOKEN", "")
    admin = os.environ.get("INGESTD_ADMIN_TOKEN", token)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    for job in JOBS:
        body = json.dumps(job.schedule).encode()
        try:
            call("PUT", f"/v1/jobs/{job.name}", admin, body, "application/json")
        except urllib.error.HTTPError as exc:
            sys.exit(f"PUT /v1/jobs/{job.name}: {exc.code} {exc.read().decode()[:300]}")
    events = list(history(now))
    runs = len({e["run_id"] for e in events if e.get("kind") == "run"})
    lines = sum(1 for e in events if "kind" not in e)
    for start in range(0, len(events), 4000):
        chunk = "\n".join(json.dumps(e) for e in events[start : start + 4000]).encode()
        answer = call("POST", "/v1/events?wait=commit", token, chunk, "application/x-ndjson")
        if answer["rejected"]:
            sys.exit(f"rejected: {answer['rejected'][:3]}")
    print(f"{len(JOBS)} jobs, {runs} runs, {lines} log lines over {DAYS} days")


if __name__ == "__main__":
    main()
