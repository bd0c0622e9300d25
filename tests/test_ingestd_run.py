"""ingestd-run: a command as a run, its output as logs, its exit code and signals kept."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

from tests.client_support import wait_until
from tests.conftest import IngestdProcess


def command() -> list[str]:
    script = Path(sys.executable).with_name("ingestd-run")
    found = str(script) if script.exists() else shutil.which("ingestd-run")
    return [found] if found else [sys.executable, "-m", "ingestd_client.run_command"]


def env_for(ingestd: Any, spool: Path) -> dict[str, str]:
    return {
        **os.environ,
        "INGESTD_URL": ingestd.url,
        "INGESTD_TOKEN": ingestd.ingest_token,
        "INGESTD_SPOOL_DIR": str(spool),
    }


def run_of(ingestd: IngestdProcess, job: str) -> dict[str, Any]:
    rows = wait_until(
        lambda: [
            r
            for r in ingestd.query(
                "SELECT run_id, status, trigger, result::text AS result, error::text AS error, "
                "attrs::text AS attrs, duration_ms FROM runs WHERE job = $1",
                job,
            )
            if r["status"] != "running"
        ],
        what=f"a finished run of {job}",
    )
    assert len(rows) == 1
    row = rows[0]
    for key in ("result", "error", "attrs"):
        row[key] = json.loads(row[key]) if row[key] else None
    return row


def logs_of(ingestd: Any, run_id: uuid.UUID) -> list[tuple[int, str]]:
    rows = ingestd.query(
        "SELECT levelno, message FROM logs WHERE run_id = $1 ORDER BY ts, id", run_id
    )
    return [(r["levelno"], r["message"]) for r in rows]


def test_a_successful_command_is_a_successful_run_with_its_output_as_logs(
    ingestd: Any, tmp_path: Path
) -> None:
    done = subprocess.run(
        [
            *command(),
            "--job",
            "nightly-backup",
            "--attr",
            "target=s3",
            "--",
            "sh",
            "-c",
            "echo copying; echo 'low disk' >&2; echo done",
        ],
        env=env_for(ingestd, tmp_path / "spool"),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "copying\ndone\n"
    assert done.stderr == "low disk\n"
    row = run_of(ingestd, "nightly-backup")
    assert row["status"] == "success" and row["trigger"] == "cron"
    assert row["result"]["exit_code"] == 0
    assert row["attrs"]["target"] == "s3"
    assert row["duration_ms"] is not None
    logs = wait_until(
        lambda: (
            logs_of(ingestd, row["run_id"]) if len(logs_of(ingestd, row["run_id"])) == 3 else []
        ),
        what="3 logs",
    )
    assert sorted(logs) == [(20, "copying"), (20, "done"), (30, "low disk")]
    numbered = ingestd.query(
        "SELECT seq_max, seq_count, array_agg(l.seq ORDER BY l.seq) AS seqs FROM runs "
        "JOIN logs AS l USING (run_id) WHERE run_id = $1 GROUP BY seq_max, seq_count",
        row["run_id"],
    )
    assert numbered == [{"seq_max": 2, "seq_count": 3, "seqs": [0, 1, 2]}]


def test_a_failing_command_is_a_failed_run_and_its_code_is_kept(
    ingestd: Any, tmp_path: Path
) -> None:
    done = subprocess.run(
        [*command(), "--job", "sync", "--", "sh", "-c", "echo 'no route to host' >&2; exit 3"],
        env=env_for(ingestd, tmp_path / "spool"),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 3
    row = run_of(ingestd, "sync")
    assert row["status"] == "failed"
    assert row["result"]["exit_code"] == 3
    assert row["error"]["message"] == "command exited with code 3"
    assert "no route to host" in row["error"]["stack"]


def test_a_missing_command_exits_127_and_fails_the_run(ingestd: Any, tmp_path: Path) -> None:
    done = subprocess.run(
        [*command(), "--job", "typo", "--", "no-such-command-xyz"],
        env=env_for(ingestd, tmp_path / "spool"),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 127
    assert "no-such-command-xyz" in done.stderr
    assert run_of(ingestd, "typo")["status"] == "failed"


CHILD = textwrap.dedent("""
    import os, signal, sys, time
    if sys.argv[1] == "trap":
        def on_term(signum, frame):
            print("got SIGTERM, cleaning up", flush=True)
            sys.exit(7)
        signal.signal(signal.SIGTERM, on_term)
    print("ready", os.getpid(), flush=True)
    time.sleep(300)
""")


def start_and_signal(
    ingestd: Any, tmp_path: Path, job: str, mode: str, sig: int
) -> tuple[int, str, str]:
    proc = subprocess.Popen(
        [*command(), "--job", job, "--", sys.executable, "-c", CHILD, mode],
        env=env_for(ingestd, tmp_path / "spool"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    ready, child = proc.stdout.readline().split()
    assert ready == "ready"
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        # Leave nothing behind to disturb the tests that follow.
        for pid in (int(child), proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.communicate()
        raise
    return proc.returncode, out, err


def test_sigterm_is_forwarded_to_the_command(ingestd: Any, tmp_path: Path) -> None:
    code, out, _ = start_and_signal(ingestd, tmp_path, "trapper", "trap", signal.SIGTERM)
    assert code == 7
    assert out == "got SIGTERM, cleaning up\n"
    assert run_of(ingestd, "trapper")["result"]["exit_code"] == 7


def test_a_command_killed_by_a_signal_exits_128_plus_the_signal(
    ingestd: Any, tmp_path: Path
) -> None:
    code, _, _ = start_and_signal(ingestd, tmp_path, "killed", "plain", signal.SIGINT)
    assert code == 128 + signal.SIGINT
    row = run_of(ingestd, "killed")
    assert row["status"] == "failed"
    assert row["result"]["exit_code"] == 130 and row["result"]["signal"] == "SIGINT"


def test_with_ingestd_down_the_command_runs_and_the_run_arrives_later(
    ingestd: Any, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    ingestd.stop()
    started = time.monotonic()
    done = subprocess.run(
        [
            *command(),
            "--job",
            "offline",
            "--flush-timeout",
            "1",
            "--",
            "sh",
            "-c",
            "echo still works; exit 4",
        ],
        env=env_for(ingestd, spool),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 4
    assert done.stdout == "still works\n"
    assert time.monotonic() - started < 10
    assert list(spool.glob("*.ndjson.gz"))

    ingestd.start()
    replay = subprocess.run(
        [*command(), "--job", "replayer", "--", "true"],
        env=env_for(ingestd, spool),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert replay.returncode == 0
    row = run_of(ingestd, "offline")
    assert row["status"] == "failed" and row["result"]["exit_code"] == 4
    wait_until(lambda: (20, "still works") in logs_of(ingestd, row["run_id"]), what="the log")


def test_the_command_can_add_to_its_run_through_the_environment(
    ingestd: Any, tmp_path: Path
) -> None:
    child = (
        "import logging\n"
        "from ingestd_client import IngestClient\n"
        "logging.getLogger().addHandler(IngestClient().handler())\n"
        "logging.getLogger().warning('from inside')\n"
    )
    done = subprocess.run(
        [*command(), "--job", "nested", "--", sys.executable, "-c", child],
        env=env_for(ingestd, tmp_path / "spool"),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    row = run_of(ingestd, "nested")
    wait_until(lambda: (30, "from inside") in logs_of(ingestd, row["run_id"]), what="the log")


def test_replay_sends_what_earlier_runs_left_in_the_spool_and_says_so(
    ingestd: Any, tmp_path: Path
) -> None:
    # A nightly job that ran while ingestd was away must not wait for the next night: a cron
    # line `ingestd-run --replay` sends its spool.
    spool = tmp_path / "spool"
    env = env_for(ingestd, spool)

    def replay() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command(), "--replay", "--flush-timeout", "2"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )

    empty = replay()
    assert (empty.returncode, empty.stdout) == (0, "")
    assert "nothing to replay" in empty.stderr
    ingestd.stop()
    nightly = [*command(), "--job", "left-behind", "--flush-timeout", "1", "--", "true"]
    subprocess.run(nightly, env=env, timeout=60, stdin=subprocess.DEVNULL, check=True)
    assert list(spool.glob("*.ndjson.gz"))
    still_down = replay()
    assert still_down.returncode == 1
    assert "left in" in still_down.stderr
    assert list(spool.glob("*.ndjson.gz"))

    ingestd.start()
    done = replay()
    assert done.returncode == 0, done.stderr
    assert "replayed" in done.stderr and "0 left" in done.stderr
    assert not list(spool.glob("*.ndjson.gz"))
    assert run_of(ingestd, "left-behind")["status"] == "success"
