"""How fast ingestd takes log events, against the limits that frame it.

    .venv/bin/python bench/ingest.py [--events 300000] [--quick] [--database-url DSN]

One run measures, on ingestd's schema and the same realistic log events:
  (a) the limit: asyncpg COPY of pre-built rows into `logs`, 5000-row batches, one connection;
  (b) the seeds' way: one autocommitted INSERT per event, one connection;
  (c) ingestd end to end: 100-event NDJSON POSTs from a separate load-generator process,
      timed from the first POST until `SELECT count(*) FROM logs` shows every event;
  (d) single-event POSTs, keep-alive, for a fixed time: 202 answers per second.
Every measurement gets a fresh database; ingestd runs as `python -m ingestd serve` with the
shipped defaults (plus --env). Without --database-url a throwaway PostgreSQL is started
(tests/pgcluster.py). CPU use comes from /proc (Linux); "others" is the rest of the machine.
The load generator (bench/loadgen.py) is a minimal HTTP/1.1 client on asyncio protocols, one
request in flight per connection: aiohttp's client costs several times more CPU per request,
and on a small machine the generator must not be what is measured. The last line printed is
JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Ingestd, say  # noqa: E402
from bench.cpumeter import CpuMeter  # noqa: E402
from bench.loadgen import Generators, http_requests, run  # noqa: E402
from ingestd.db import database  # noqa: E402
from ingestd.ingest.events import LOG_COLUMNS, Limits, LogRow, parse_event  # noqa: E402

COPY_BATCH = 5000  # INGESTD_BATCH_MAX_EVENTS' default: what one ingestd flush COPYs at most
BODY_EVENTS = 100
STEPS = ("FETCH", "PARSE", "TRANSFORM", "VALIDATE", "SAVE", "NOTIFY")
LEVELS = ["info"] * 70 + ["debug"] * 15 + ["warning"] * 10 + ["error"] * 5
VERBS = ("fetched", "parsed", "wrote", "skipped", "merged", "retried", "validated", "sent")
NOUNS = ("orders", "invoices", "users", "events", "rows", "files", "pages", "records")
FILLER = "while processing the nightly partition for the upstream source after a retry"


# --- the data ---------------------------------------------------------------------------


def make_events(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """Log events as a job's logging handler sends them (ts in epoch seconds, as
    ingestd_client does): 50 jobs, 300 runs, 60-100 character messages, 2-4 attrs."""
    rnd = random.Random(seed)
    jobs = [f"{rnd.choice(NOUNS)}-{rnd.choice(VERBS)}-{i:02d}" for i in range(50)]
    runs = [(str(uuid.UUID(int=rnd.getrandbits(128), version=4)), rnd.choice(jobs))
            for _ in range(300)]  # fmt: skip
    # Pools of message templates and attrs to draw from: drawing every field of 300k events
    # with `random` takes longer than the measurements. Each message still gets a number of
    # its own, so a cache keyed on messages would not be flattered.
    messages, attrs = [], []
    for _ in range(4096):
        text = (f"{rnd.choice(VERBS)} %d {rnd.choice(NOUNS)} from shard-{rnd.randint(0, 63)} "
                f"in {rnd.random() * 900:.1f} ms {FILLER}")  # fmt: skip
        messages.append(text[: rnd.randint(60, 94)].rstrip())
        every = {"rows": rnd.randint(0, 10**6), "table": rnd.choice(NOUNS),
                 "attempt": rnd.randint(1, 5), "duration_ms": round(rnd.random() * 5000, 2),
                 "host": f"worker-{rnd.randint(1, 12)}"}  # fmt: skip
        attrs.append({k: every[k] for k in rnd.sample(sorted(every), rnd.randint(2, 4))})
    now, r = time.time(), rnd.random
    return [{"ts": now - r() * 60, "level": LEVELS[int(r() * 100)], "job": job,
             "run_id": run_id, "step": STEPS[int(r() * 6)],
             "message": messages[int(r() * 4096)] % (i * 7 + 1), "attrs": attrs[int(r() * 4096)]}
            for i, (run_id, job) in enumerate(runs[int(r() * 300)] for _ in range(n))]  # fmt: skip


def as_rows(events: list[dict[str, Any]]) -> list[LogRow]:
    """The COPY rows ingestd itself makes of these events."""
    received_at, limits = datetime.now(UTC), Limits()
    return [parse_event(e, received_at, limits) for e in events]  # type: ignore[misc]


# --- ingestd, databases, CPU ------------------------------------------------------------


async def _admin(dsn: str, *statements: str) -> str:
    """Run statements on one connection; returns the server's version."""
    conn = await asyncpg.connect(dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


async def _migrate(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:  # the schema ingestd ships, with the log partitions it keeps around today
        await database.migrate(conn)
        await database.ensure_partitions(conn, database.partition_days(datetime.now(UTC), 3))
    finally:
        await conn.close()


# --- the measurements -------------------------------------------------------------------


async def direct_load(dsn: str, rows: list[LogRow], copy: bool, meter: CpuMeter) -> Any:
    """(a) COPY in batches, or (b) one autocommitted INSERT per row; one connection."""
    values = ", ".join(f"${i + 1}" for i in range(len(LOG_COLUMNS)))
    insert = f"INSERT INTO logs ({', '.join(LOG_COLUMNS)}) VALUES ({values})"
    conn = await asyncpg.connect(dsn)
    try:
        meter.start()  # once connected, so the backend's CPU is counted
        started = time.monotonic()
        if copy:
            for i in range(0, len(rows), COPY_BATCH):  # each COPY commits on its own
                batch = rows[i : i + COPY_BATCH]
                await conn.copy_records_to_table("logs", records=batch, columns=LOG_COLUMNS)
        else:
            for row in rows:  # autocommit: a transaction and a WAL flush per event
                await conn.execute(insert, *row)
        return len(rows) / (time.monotonic() - started), str(meter.stop())
    finally:
        await conn.close()


async def until_committed(server: Ingestd, gens: Generators, meter: CpuMeter, timed: bool) -> Any:
    """The generators' results, when every accepted event was committed (the start of the
    first `SELECT count(*) FROM logs` that shows them all: its snapshot is taken then), and
    the CPU meter, stopped then (timed) or when the results came in."""
    conn = await asyncpg.connect(server.dsn)  # connected before, so the clock sees only polls
    try:
        results = await gens.collect(900)
        total = sum(r["accepted"] for r in results)
        if not timed:
            meter.stop()
        t0, deadline, first = time.monotonic(), time.monotonic() + 300, None
        while True:
            asked = time.monotonic()
            n = await conn.fetchval("SELECT count(*) FROM logs")
            if n >= total:
                break
            first = n if first is None else first
            if server.proc.poll() is not None or asked > deadline:
                raise RuntimeError(f"{n} of {total} events committed; log: {server.log_path}")
            # count(*) over 300k fresh rows costs PostgreSQL 20-150 ms of the CPU the writer
            # needs: poll seldom while far from done, more often as the estimated end nears.
            rate = (n - first) / (asked - t0) if n > first else 0
            wait = (total - n) / rate / 2 if rate else 0.02 + n / 300_000
            await asyncio.sleep(min(0.25, max(0.01, wait)))
        results[0]["committed_then"] = total if first is None else first
        return results, asked, meter.stop() if timed else meter
    finally:
        await conn.close()


class Bench:
    def __init__(self, args: argparse.Namespace, admin_dsn: str, work: Path, pg: Any) -> None:
        self.args, self.admin_dsn, self.work = args, admin_dsn, work
        self.pg = {"postgres": pg} if pg else {}  # PostgreSQL's processes, when ours
        self.dbs: list[str] = []
        self.extra_env = dict(kv.split("=", 1) for kv in args.env)

    def fresh_db(self, tag: str) -> str:
        self.dbs.append(f"ingestd_bench_{tag}_{uuid.uuid4().hex[:8]}")
        run(_admin(self.admin_dsn, f'CREATE DATABASE "{self.dbs[-1]}"'))
        dsn = urlunsplit(urlsplit(self.admin_dsn)._replace(path=f"/{self.dbs[-1]}"))
        run(_migrate(dsn))
        return dsn

    def direct(self, tag: str, rows: list[LogRow], copy: bool) -> tuple[float, str, str]:
        meter = CpuMeter(bench=lambda: [os.getpid()], **self.pg)
        rate, cpu = run(direct_load(self.fresh_db(tag), rows, copy, meter))
        return rate, cpu, ""

    @contextlib.contextmanager
    def ingestd(self, tag: str) -> Iterator[Ingestd]:
        """ingestd on a fresh database; with --profile, py-spy samples it meanwhile."""
        server = Ingestd(self.fresh_db(tag), self.work, tag, self.extra_env)
        spy = None
        if self.args.profile:
            out = shlex.quote(str(Path(self.args.profile) / f"ingestd-{tag}.txt"))
            options = f"record --nonblocking -r 250 -f raw -p {server.proc.pid} -o {out}"
            command = [self.args.py_spy, *shlex.split(options)]
            spy = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        try:
            yield server
        finally:
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its collapsed stacks
                spy.wait(30)
            server.stop()

    def load(self, tag: str, bodies: list[bytes], ctype: str, gens: int, conns: int) -> Any:
        """Start ingestd and the generators, go; see until_committed for what it returns."""
        secs = self.args.single_seconds if tag == "d" else 0
        with self.ingestd(tag) as server:
            reqs = http_requests(server.port, bodies, ctype, self.args.token)
            with Generators(server.port, [reqs] * gens, conns, secs) as generators:
                pids = [server.proc.pid]
                meter = CpuMeter(ingestd=lambda: pids, generator=generators.pids, **self.pg)
                meter.start()
                generators.go()
                return run(until_committed(server, generators, meter, timed=tag == "c"))

    def batch(self, events: list[dict[str, Any]]) -> tuple[float, str, str]:
        bodies = [b"".join(orjson.dumps(e) + b"\n" for e in events[i : i + BODY_EVENTS])
                  for i in range(0, len(events), BODY_EVENTS)]  # fmt: skip
        conns = self.args.batch_concurrency
        (res,), end, meter = self.load("c", bodies, "application/x-ndjson", 1, conns)
        if res["accepted"] != len(events):
            raise RuntimeError(f"ingestd accepted {res['accepted']} of {len(events)}: {res}")
        note = (f"ingestd {meter.per('ingestd', len(events)):.1f} us CPU/event; answers "
                f"{res['statuses']}, the last after {res['t1'] - res['t0']:.2f}s, when "
                f"{res['committed_then']:,} events were committed")  # fmt: skip
        return len(events) / (end - res["t0"]), str(meter), note

    def single(self, events: list[dict[str, Any]]) -> tuple[float, str, str]:
        gens = self.args.generators
        conns = max(1, self.args.concurrency // gens)
        bodies = [orjson.dumps(e) for e in events[:5000]]
        results, _, meter = self.load("d", bodies, "application/json", gens, conns)
        statuses: Counter[str] = sum((Counter(r["statuses"]) for r in results), Counter())
        window, ok = max(r["t1"] for r in results) - min(r["t0"] for r in results), statuses["202"]
        note = (f"CPU/request: ingestd {meter.per('ingestd', ok):.0f} us, generator "
                f"{meter.per('generator', ok):.0f} us; {gens} generator(s) x {conns} conns; "
                f"answers {dict(statuses)}, all committed")  # fmt: skip
        return ok / window, str(meter), note


# --- the command ------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    doc, raw = (__doc__ or "").split("\n\n", 2)[2], argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=doc, formatter_class=raw)
    add = parser.add_argument
    add("--events", type=int, default=300_000, help="events for (a) and (c) (default 300000)")
    add("--naive-events", type=int, default=5000, help="events for (b) (default 5000)")
    add("--single-seconds", type=float, default=6.0, help="duration of (d) (default 6)")
    add("--concurrency", type=int, default=64, help="connections for (d), in all (default 64)")
    add("--generators", type=int, default=1, help="load-generator processes for (d)")
    add("--batch-concurrency", type=int, default=8, help="connections for (c) (default 8)")
    add("--database-url", help="use this PostgreSQL (needs CREATEDB) instead of a throwaway")
    add("--env", action="append", default=[], metavar="KEY=VALUE", help="extra ingestd setting")
    add("--token", help="bearer token to send (when --env sets INGESTD_TOKENS)")
    add("--profile", metavar="DIR", help="py-spy ingestd during (c) and (d), stacks into DIR")
    add("--quick", action="store_true", help="a tiny smoke run (a few seconds)")
    add("--seq", action="store_true", help="number each run's events (seq), as clients do")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.naive_events, args.single_seconds = 5000, 500, 1.0
    if any("=" not in kv for kv in args.env):
        parser.error("--env takes KEY=VALUE")
    venv_path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    args.py_spy = shutil.which("py-spy", path=venv_path)
    if args.profile:
        if not args.py_spy:
            parser.error("--profile needs py-spy: pip install py-spy")
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C does, so the finally clauses stop what was started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="ingestd-bench-"))
    cluster, bench, ok = None, None, False
    try:
        if args.database_url:
            admin, pg_pids, where = args.database_url, None, "given"
        else:
            from tests.pgcluster import ThrowawayCluster

            say("starting a throwaway PostgreSQL")
            cluster = ThrowawayCluster.start(work)
            admin, pg_pids, where = cluster.dsn, cluster.processes, "throwaway"
        bench = Bench(args, admin, work, pg_pids)
        say(f"building {args.events:,} events")
        events = make_events(args.events)
        if args.seq:
            numbers: Counter[str] = Counter()
            for event in events:
                event["seq"] = numbers[event["run_id"]]
                numbers[event["run_id"]] += 1
        rows = as_rows(events)
        naive = rows[: args.naive_events]
        if len(naive) < args.naive_events:
            naive = as_rows(make_events(args.naive_events, seed=8))
        say("(a) COPY limit")
        a = bench.direct("a", rows, copy=True)
        say("(b) one INSERT per event")
        b = bench.direct("b", naive, copy=False)
        say("(c) ingestd end to end, 100-event NDJSON POSTs")
        c = bench.batch(events)
        say(f"(d) single-event POSTs for {args.single_seconds:g}s")
        d = bench.single(events)
        version = run(_admin(admin))
        extra = f" + {' '.join(args.env)}" if args.env else ""
        print(f"\ningestd ingest bench: {os.cpu_count()} CPUs, PostgreSQL {version} ({where}), "
              f"ingestd defaults{extra}")  # fmt: skip
        table = [
            ("(a) COPY limit, 5000-row batches", a, "ev/s", f"{len(rows):,} ev"),
            ("(b) one INSERT per event", b, "ev/s", f"{len(naive):,} ev"),
            ("(c) ingestd, 100-event NDJSON POSTs", c, "ev/s", f"{len(events):,} ev"),
            ("(d) ingestd, single-event POSTs", d, "req/s", f"{args.single_seconds:g} s"),
        ]
        for label, (rate, cpu, note), unit, size in table:
            print(f"{label:<36} {rate:>9,.0f} {unit:<5} {size:>10}  cpu: {cpu}")
            if note:
                print(f"{'':<38}{note}")
        ratio_a, ratio_b = c[0] / a[0], c[0] / b[0]
        print(f"c/a = {ratio_a:.2f} (target >= 0.5)   c/b = {ratio_b:.1f} (target >= 20)   "
              f"d = {d[0]:,.0f} req/s (target >= 5,000)")  # fmt: skip
        summary: dict[str, float] = {"copy_limit_eps": round(a[0]),
                   "naive_insert_eps": round(b[0]), "ingest_batch_eps": round(c[0]),
                   "ingest_single_rps": round(d[0]), "ratio_vs_copy": round(ratio_a, 3),
                   "ratio_vs_naive": round(ratio_b, 2)}  # fmt: skip
        print(json.dumps(summary))
        ok = True
        return 0
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    except RuntimeError as exc:  # ours, with the reason and where to look
        say(f"failed: {exc}")
        return 1
    finally:
        if bench is not None and bench.dbs:
            drops = (f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in bench.dbs)
            with contextlib.suppress(Exception):
                run(_admin(bench.admin_dsn, *drops))
        if cluster is not None:
            cluster.destroy()
        if not ok and any(log.stat().st_size for log in work.glob("ingestd-*.log")):
            print(f"ingestd's logs are kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
