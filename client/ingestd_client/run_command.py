"""``ingestd-run``: run any command as a run of a job, its output as the run's logs.

    ingestd-run --job nightly-backup [--url URL] [--token T] [--trigger cron] \\
        [--attr key=value ...] -- ./backup.sh --full
    ingestd-run --replay      # send what earlier runs left in the spool, then exit

The command's stdout and stderr pass through unchanged and are sent line by line as logs
(stderr at level warning). The run records duration and exit code (0 → success, else
failed, the code in ``result.exit_code``). SIGINT, SIGTERM, SIGHUP and SIGQUIT are forwarded
to the command; ``ingestd-run`` exits with the command's code, or 128 + signal number when
the command was killed by a signal. When ingestd is down the events are spooled, and the
command's output and exit code are unaffected.

The command sees ``INGESTD_RUN_ID`` and ``INGESTD_JOB`` in its environment, so it can add
to the same run (``curl .../ping/$INGESTD_JOB/log?rid=$INGESTD_RUN_ID``).

A spool left by a run while ingestd was away is replayed by the next process that uses it;
for a nightly job that is a day later, so ``ingestd-run --replay`` in a cron line of its own
(every few minutes) sends it as soon as ingestd is back. It exits 0 once the spool is empty,
1 when something is left (ingestd still away, or another process replaying it).
"""

from __future__ import annotations

import argparse
import collections
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from types import FrameType
from typing import IO, Any

from .client import IngestClient
from .runs import Run
from .version import __version__

FORWARDED = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")
MAX_LINE = 64 * 1024
STDERR_TAIL = 20
FLUSH_TIMEOUT = 5.0
REPLAY_TIMEOUT = 60.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ingestd-run",
        usage="ingestd-run --job NAME [options] -- COMMAND [ARG ...]\n"
        "       ingestd-run --replay [--url URL] [--token T] [--spool-dir DIR]",
        description="Run COMMAND as a run of job NAME in ingestd; its output becomes the "
        "run's logs. Exits with COMMAND's exit code.",
    )
    parser.add_argument(
        "--job", default=os.environ.get("INGESTD_JOB"), help="job name (default: $INGESTD_JOB)"
    )
    parser.add_argument("--url", help="ingestd URL (default: $INGESTD_URL)")
    parser.add_argument("--token", help="ingest token (default: $INGESTD_TOKEN)")
    parser.add_argument(
        "--trigger",
        help="cron, manual, api ... (default: manual when run from a terminal, else cron)",
    )
    parser.add_argument(
        "--attr", action="append", default=[], metavar="KEY=VALUE", help="run attribute, repeatable"
    )
    parser.add_argument("--run-id", help="use this run id (a UUID) instead of a new one")
    parser.add_argument(
        "--spool-dir", help="spool directory (default: $INGESTD_SPOOL_DIR or a per-user directory)"
    )
    parser.add_argument(
        "--flush-timeout",
        type=float,
        metavar="SECONDS",
        help="at most this long delivering logs after the command ends; "
        "the rest is spooled (default 5; with --replay, 60)",
    )
    parser.add_argument(
        "--replay",
        action="store_true",
        help="run no command: send what earlier runs left in the spool, then exit "
        "(0 when the spool is empty, 1 when something is left); for a cron line",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="do not pass the command's output through"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("command", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = build_parser()
    if "--" in argv:
        cut = argv.index("--")
        args = parser.parse_args(argv[:cut])
        args.command = argv[cut + 1 :]
    else:
        args = parser.parse_args(argv)
    if args.flush_timeout is None:
        args.flush_timeout = REPLAY_TIMEOUT if args.replay else FLUSH_TIMEOUT
    if args.replay:
        if args.command:
            parser.error("--replay runs no command")
        return args
    if not args.job:
        parser.error("--job is required (or set INGESTD_JOB)")
    if not args.command:
        parser.error("no command given; put it after --")
    for item in args.attr:
        if "=" not in item:
            parser.error(f"--attr wants KEY=VALUE, got {item!r}")
    return args


class _Pump(threading.Thread):
    """Copies one output stream of the command through, and logs its lines."""

    def __init__(
        self,
        client: IngestClient,
        run: Run,
        stream: IO[bytes],
        name: str,
        out: IO[bytes] | None,
        level: str,
    ) -> None:
        super().__init__(name=f"ingestd-run-{name}", daemon=True)
        self.client, self.job_run, self.stream, self.out = client, run, stream, out
        self.label, self.level = name, level
        self.tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL)
        self.lines = 0

    def run(self) -> None:
        source = {"logger": self.label}
        for raw in iter(lambda: self.stream.readline(MAX_LINE), b""):
            if self.out is not None:
                try:
                    self.out.write(raw)
                    self.out.flush()
                except (OSError, ValueError):
                    self.out = None  # our own stdout went away; keep logging
            text = raw.rstrip(b"\r\n").decode("utf-8", "replace")
            if text.strip():
                self.lines += 1
                self.tail.append(text)
                self.client.log(text, self.level, run=self.job_run, source=source)
        self.stream.close()


def _exit_code(returncode: int) -> int:
    return returncode if returncode >= 0 else 128 - returncode


def run_command(args: argparse.Namespace) -> int:
    interactive = sys.stdin is not None and sys.stdin.isatty()
    trigger = args.trigger or ("manual" if interactive else "cron")
    attrs: dict[str, Any] = dict(item.split("=", 1) for item in args.attr)
    attrs.setdefault("command", shlex.join(args.command))
    client = IngestClient(
        args.url, args.token, spool_dir=args.spool_dir, close_timeout=args.flush_timeout
    )
    run = client.run(args.job, trigger=trigger, attrs=attrs, run_id=args.run_id).start()
    env = dict(os.environ, INGESTD_RUN_ID=run.run_id, INGESTD_JOB=args.job)
    # Not from a terminal, the command gets its own process group and signals go to the
    # whole group; from a terminal it stays in the foreground group (it may read the tty),
    # which receives Ctrl-C itself, so only SIGTERM and SIGHUP are forwarded.
    own_group = not interactive and hasattr(os, "killpg")
    children: list[subprocess.Popen[bytes]] = []
    received: list[int] = []

    def deliver(signum: int) -> None:
        if not own_group and signum in (signal.SIGINT, getattr(signal, "SIGQUIT", -1)):
            return
        try:
            if own_group:
                os.killpg(children[0].pid, signum)
            else:
                children[0].send_signal(signum)
        except (ProcessLookupError, PermissionError):
            pass

    def forward(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        if children:
            deliver(signum)

    # Installed before the command starts, so no signal can kill us and orphan it.
    for name in FORWARDED:
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), forward)
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            args.command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=own_group,
        )
    except OSError as exc:
        code = 127 if isinstance(exc, FileNotFoundError) else 126
        message = f"cannot run {args.command[0]!r}: {exc.strerror or exc}"
        sys.stderr.write(f"ingestd-run: {message}\n")
        run.result(exit_code=code)
        run.fail(message, error_type=type(exc).__name__)
        run.finish()
        client.close()
        return code
    children.append(proc)
    for signum in received:  # arrived while the command was starting
        deliver(signum)

    assert proc.stdout is not None and proc.stderr is not None
    out = None if args.quiet else sys.stdout.buffer
    err = None if args.quiet else sys.stderr.buffer
    pumps = [
        _Pump(client, run, proc.stdout, "stdout", out, "info"),
        _Pump(client, run, proc.stderr, "stderr", err, "warning"),
    ]
    for pump in pumps:
        pump.start()
    returncode = proc.wait()
    duration = time.monotonic() - started
    for pump in pumps:  # a daemon the command left behind may hold the pipes open
        pump.join(timeout=2.0)

    code = _exit_code(returncode)
    run.result(
        exit_code=code,
        duration_s=round(duration, 3),
        stdout_lines=pumps[0].lines,
        stderr_lines=pumps[1].lines,
    )
    if returncode < 0:
        try:
            signame = signal.Signals(-returncode).name
        except ValueError:
            signame = f"signal {-returncode}"
        run.result(signal=signame)
        run.fail(
            f"command killed by {signame}",
            error_type="Signal",
            stack="\n".join(pumps[1].tail) or None,
        )
    elif returncode != 0:
        run.fail(
            f"command exited with code {returncode}",
            error_type="ExitCode",
            stack="\n".join(pumps[1].tail) or None,
        )
    run.finish()
    client.close()
    return code


def replay_spool(args: argparse.Namespace) -> int:
    """Send the spool within ``--flush-timeout`` seconds; 0 when it is empty after."""
    client = IngestClient(args.url, args.token, spool_dir=args.spool_dir, heartbeat_interval=0)
    where = client.config.spool_dir
    if not client.spooled():
        client.close(0)
        sys.stderr.write(f"ingestd-run: nothing to replay in {where}\n")
        return 0
    # A client starting with a non-empty spool replays it first; the flush waits for that.
    client.flush(args.flush_timeout)
    left = client.spooled()
    client.close(0)
    stats = client.stats()
    sys.stderr.write(
        f"ingestd-run: replayed {stats.replayed_batches} batches ({stats.replayed_events} "
        f"events) to {client.url}; {left} left in {where}\n"
    )
    return 0 if left == 0 else 1


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``ingestd-run`` console script."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    sys.exit(replay_spool(args) if args.replay else run_command(args))


if __name__ == "__main__":
    main()
