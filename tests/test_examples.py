"""The examples run against a real ingestd and leave what they promise."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.client_support import wait_until
from tests.conftest import IngestdProcess

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(
    ingestd: Any, tmp_path: Path, *cmd: str, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "INGESTD_URL": ingestd.url,
        "INGESTD_TOKEN": ingestd.ingest_token,
        "INGESTD_SPOOL_DIR": str(tmp_path / "spool"),
        **extra_env,
    }
    done = subprocess.run(
        list(cmd),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout}\n{done.stderr}"
    assert "ingestd-client:" not in done.stderr, done.stderr  # nothing spooled or refused
    return done


def finished_runs(ingestd: Any, job: str, count: int) -> list[dict[str, Any]]:
    def probe() -> list[dict[str, Any]]:
        rows = ingestd.query(
            "SELECT run_id, status, step, progress, counters::text AS counters, "
            "result::text AS result, attrs::text AS attrs FROM runs "
            "WHERE job = $1 AND finished_at IS NOT NULL ORDER BY started_at",
            job,
        )
        return rows if len(rows) == count else []

    rows = wait_until(probe, what=f"{count} finished run(s) of {job}")
    for row in rows:
        for key in ("counters", "result", "attrs"):
            row[key] = json.loads(row[key]) if row[key] else None
    return rows


def log_rows(ingestd: IngestdProcess, run_id: uuid.UUID) -> list[dict[str, Any]]:
    return ingestd.query(
        "SELECT levelno, step, message, attrs::text AS attrs FROM logs "
        "WHERE run_id = $1 ORDER BY ts, id",
        run_id,
    )


def test_profile_maintenance(ingestd: Any, tmp_path: Path) -> None:
    run_example(ingestd, tmp_path, sys.executable, str(EXAMPLES / "profile_maintenance.py"))
    runs = finished_runs(ingestd, "profile-maintenance", 3)
    assert [r["status"] for r in runs] == ["success", "failed", "warning"]
    assert [r["attrs"]["profile_id"] for r in runs] == [1, 2, 3]
    assert runs[0]["result"]["fields_edited"]["headline"].startswith("Compassionate Therapist")


def test_atm_retrieval(ingestd: Any, tmp_path: Path) -> None:
    run_example(ingestd, tmp_path, sys.executable, str(EXAMPLES / "atm_retrieval.py"))
    [run] = finished_runs(ingestd, "atm-retrieval", 1)
    assert run["status"] == "warning" and run["progress"] == 100
    assert run["counters"]["terminal_details_processed"] == 14
    wait_until(lambda: len(log_rows(ingestd, run["run_id"])) >= 20, what="the run's logs")
    logs = log_rows(ingestd, run["run_id"])
    terminals = [
        json.loads(r["attrs"]).get("terminal_id") for r in logs if r["step"] == "TERMINALS"
    ]
    assert terminals == [f"ATM-{n:02d}" for n in range(1, 15)]
    assert {r["step"] for r in logs} >= {"CONNECTIVITY", "AUTH", "REGIONAL", "TERMINALS", "SAVE"}


def test_cron_sync(ingestd: Any, tmp_path: Path) -> None:
    run_example(ingestd, tmp_path, sys.executable, str(EXAMPLES / "cron_sync.py"))
    [sync] = finished_runs(ingestd, "vapi-sync", 1)
    assert sync["status"] == "success"
    assert sync["counters"] == {"records_fetched": 120, "records_inserted": 120, "api_cost": 0.0125}
    [qci] = finished_runs(ingestd, "qci-analysis", 1)
    assert qci["counters"]["calls_analyzed"] == 30
    assert qci["counters"]["api_cost"] == pytest.approx(30 * 0.0031)


def test_backup_job(ingestd: Any, tmp_path: Path) -> None:
    run_example(ingestd, tmp_path, sys.executable, str(EXAMPLES / "backup_job.py"))
    [run] = finished_runs(ingestd, "nightly-backup", 1)
    assert run["status"] == "success" and run["progress"] == 100
    assert run["counters"]["tables_dumped"] == 5 and run["counters"]["retries"] == 2
    assert run["result"]["archive"].endswith(".tar.zst")


def test_file_import(ingestd: Any, tmp_path: Path) -> None:
    run_example(ingestd, tmp_path, sys.executable, str(EXAMPLES / "file_import.py"))
    [run] = finished_runs(ingestd, "import", 1)
    assert run["status"] == "warning"
    assert run["attrs"]["import_type"] == "backup"
    assert run["counters"]["file_size"] > 1000
    assert run["counters"]["games_created"] == 39 and run["counters"]["records_failed"] == 1


def seq_figures(ingestd: IngestdProcess, run_id: uuid.UUID) -> tuple[int, int]:
    def probe() -> tuple[int, int] | None:
        [row] = ingestd.query("SELECT seq_max, seq_count FROM runs WHERE run_id = $1", run_id)
        return (row["seq_max"], row["seq_count"]) if row["seq_max"] is not None else None

    figures = wait_until(probe, what="the run's numbered lines")
    assert figures is not None
    return figures


# docs/recipes.md takes its "why did it fail, is it complete" answers from runs the examples
# make when told to: each flag below makes the run its recipe asks about.


def test_profile_maintenance_with_the_password_fixed_updates_profile_2(
    ingestd: Any, tmp_path: Path
) -> None:
    script = str(EXAMPLES / "profile_maintenance.py")
    run_example(ingestd, tmp_path, sys.executable, script, PASSWORD_FIXED="1")
    runs = finished_runs(ingestd, "profile-maintenance", 3)
    assert [r["status"] for r in runs] == ["success", "success", "warning"]


def test_atm_retrieval_with_lost_terminals_leaves_a_gap(ingestd: Any, tmp_path: Path) -> None:
    script = str(EXAMPLES / "atm_retrieval.py")
    run_example(ingestd, tmp_path, sys.executable, script, LOST_TERMINALS="ATM-09,ATM-10")
    [run] = finished_runs(ingestd, "atm-retrieval", 1)
    assert run["counters"]["terminal_details_processed"] == 14
    seq_max, seq_count = seq_figures(ingestd, run["run_id"])
    assert seq_count == seq_max + 1 - 2
    wait_until(lambda: len(log_rows(ingestd, run["run_id"])) == seq_count, what="the logs")
    terminals = {
        json.loads(r["attrs"] or "{}").get("terminal_id") for r in log_rows(ingestd, run["run_id"])
    }
    assert {"ATM-08", "ATM-11"} <= terminals and not terminals & {"ATM-09", "ATM-10"}


def test_cron_sync_failing_marks_vapi_sync_failed_and_still_analyses(
    ingestd: Any, tmp_path: Path
) -> None:
    run_example(ingestd, tmp_path, sys.executable, str(EXAMPLES / "cron_sync.py"), VAPI_FAIL="1")
    [sync] = finished_runs(ingestd, "vapi-sync", 1)
    assert sync["status"] == "failed" and sync["step"] == "SAVE"
    assert sync["counters"]["records_inserted"] == 100
    [qci] = finished_runs(ingestd, "qci-analysis", 1)
    assert qci["status"] == "success"


def test_cron_sync_with_lost_pages_leaves_a_gap(ingestd: Any, tmp_path: Path) -> None:
    script = str(EXAMPLES / "cron_sync.py")
    run_example(ingestd, tmp_path, sys.executable, script, VAPI_LOST_PAGES="1")
    [sync] = finished_runs(ingestd, "vapi-sync", 1)
    assert sync["status"] == "success" and sync["counters"]["records_inserted"] == 120
    assert seq_figures(ingestd, sync["run_id"]) == (5, 3)  # lines 2-4 lost


def test_backup_job_slow_retries_four_times(ingestd: Any, tmp_path: Path) -> None:
    run_example(ingestd, tmp_path, sys.executable, str(EXAMPLES / "backup_job.py"), BACKUP_SLOW="1")
    [run] = finished_runs(ingestd, "nightly-backup", 1)
    assert run["status"] == "success" and run["counters"]["retries"] == 4


def test_file_import_of_another_day_with_more_bad_games(ingestd: Any, tmp_path: Path) -> None:
    script = str(EXAMPLES / "file_import.py")
    env = {"IMPORT_DAY": "2025-06-28", "BAD_GAMES": "g17,g23,g31"}
    run_example(ingestd, tmp_path, sys.executable, script, **env)
    [run] = finished_runs(ingestd, "import", 1)
    assert run["attrs"]["filename"] == "numwatch-backup-2025-06-28.json"
    assert run["counters"]["records_failed"] == 3 and run["counters"]["games_created"] == 37


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_client(ingestd: Any, tmp_path: Path) -> None:
    done = run_example(ingestd, tmp_path, "node", str(EXAMPLES / "node_client.mjs"))
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["answer"]["accepted"] == 7 and answer["answer"]["rejected"] == []
    [run] = finished_runs(ingestd, "assistant-sync", 1)
    assert run["status"] == "success" and run["counters"]["records_inserted"] == 12
    wait_until(lambda: len(log_rows(ingestd, run["run_id"])) == 4, what="4 logs")


def read_json(ingestd: IngestdProcess, path: str) -> Any:
    request = urllib.request.Request(
        ingestd.url + path,
        headers={"Authorization": f"Bearer {ingestd.read_token}", "Cache-Control": "no-cache"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def test_demo_history_fills_fourteen_days_of_seventeen_jobs(
    ingestd: IngestdProcess, tmp_path: Path
) -> None:
    script = str(EXAMPLES / "demo_history.py")
    done = run_example(ingestd, tmp_path, sys.executable, script, INGESTD_ADMIN_TOKEN=ingestd.token)
    assert done.stdout.startswith("17 jobs, ")
    # The monitor's first tick judges the schedules (missed, waiting) after the load.
    wanted = {"ok", "failing", "stuck", "missed", "waiting"}

    def healths() -> dict[str, str]:
        found = {j["job"]: j["health"] for j in read_json(ingestd, "/v1/jobs?days=14")["items"]}
        return found if wanted <= set(found.values()) else {}

    # Generous: under load, the tick after a 2,000-run load can take a while.
    health = wait_until(healths, timeout=60, what="every health among the demo's jobs")
    assert len(health) == 17
    assert (health["warehouse-etl"], health["report-export"]) == ("stuck", "missed")
    assert (health["invoice-reminders"], health["search-reindex"]) == ("waiting", "failing")
    oldest = ingestd.query("SELECT min(started_at) AS t FROM runs")[0]["t"]
    # 14 days back (into the default partition), from when the script ran: a slot just after
    # that edge is a little over 14 days old by now.
    assert timedelta(days=13) < datetime.now(UTC) - oldest < timedelta(days=14, minutes=10)
    [broken] = read_json(ingestd, "/v1/runs?job=orders-import&status=failed&limit=1")["items"]
    compare = read_json(ingestd, f"/v1/runs/{broken['run_id']}/compare")
    assert compare["attrs"] and any("1.9.0" in line for line in compare["summary"])
    [gap] = ingestd.query("SELECT run_id FROM runs WHERE seq_count < seq_max + 1")
    run = read_json(ingestd, f"/v1/runs/{gap['run_id']}")
    assert run["job"] == "atm-retrieval"
    assert run["log_completeness"]["state"] == "missing" and run["log_completeness"]["missing"] == 2
    # Loading again the same day stores nothing twice.
    lines = ingestd.query("SELECT count(*) AS n FROM logs")[0]["n"]
    run_example(ingestd, tmp_path, sys.executable, script, INGESTD_ADMIN_TOKEN=ingestd.token)
    assert ingestd.query("SELECT count(*) AS n FROM logs")[0]["n"] == lines


def _pings_served(url: str) -> bool:
    try:
        urllib.request.urlopen(f"{url}/ping/probe/log", timeout=5)
    except urllib.error.HTTPError as exc:
        return exc.code != 404
    except OSError:
        return False
    return True


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_cron_ping_script(ingestd: Any, tmp_path: Path) -> None:
    if not _pings_served(ingestd.url):
        pytest.skip("this ingestd does not serve /ping yet")
    run_example(ingestd, tmp_path, "bash", str(EXAMPLES / "cron_ping.sh"), JOB="disk-cleanup")
    [run] = finished_runs(ingestd, "disk-cleanup", 1)
    assert run["status"] == "success"
    wait_until(
        lambda: any("done" in r["message"] for r in log_rows(ingestd, run["run_id"])),
        what="the script's output as logs",
    )


def readme_tour() -> tuple[str, list[str]]:
    """The README's tour as a bash script, and the answers it shows (`# {...}` lines, and
    `#  ...` continuing them, with `…` for what differs from one run to the next)."""
    readme = (EXAMPLES.parent / "README.md").read_text()
    tour = readme.split("## A 60-second tour", 1)[1].split("```sh\n", 1)[1].split("```\n", 1)[0]
    script: list[str] = []
    shown: list[str] = []
    for line in tour.splitlines():
        command, _, comment = line.partition("     # ")  # an answer beside its command
        if comment.startswith("{"):
            script.append(f"{command}; echo")
            shown.append(comment)
        elif line.startswith("# {"):
            script.append("echo")  # JSON answers end without a newline
            shown.append(line[2:])
        elif line.startswith("#  "):  # a long answer, continued
            shown[-1] += line[3:]
        else:
            script.append(line)
    return "\n".join(script) + "\n", shown


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_readme_tour_shows_what_the_readme_says(ingestd_factory: Any, tmp_path: Path) -> None:
    # A newcomer pastes the tour into a shell next to `make run` (no tokens, port 8080).
    ingestd = ingestd_factory(env={"INGESTD_TOKENS": ""})
    script, shown = readme_tour()
    script = script.replace("localhost:8080", f"127.0.0.1:{ingestd.port}")
    done = subprocess.run(
        ["bash", "-e", "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    printed = [line for line in done.stdout.splitlines() if line]
    # The pings print the run id each, on a line of its own: start and end are one run.
    pinged = [line for line in printed if re.fullmatch(r"[0-9a-f-]{36}", line)]
    assert len(pinged) == 2 and pinged[0] == pinged[1], printed
    answers = [line for line in printed if line.startswith("{")]
    assert len(answers) == len(shown), printed
    for answer, expected in zip(answers, shown, strict=True):
        pattern = ".*".join(re.escape(part) for part in expected.split("…"))
        assert re.fullmatch(pattern, answer), f"the README shows {expected}\nreal: {answer}"


def test_the_readme_python_snippet_sends_its_log_tied_to_the_run(
    ingestd: Any, tmp_path: Path
) -> None:
    readme = (EXAMPLES.parent / "README.md").read_text()
    section = readme.split("## From a script or a cron line", 1)[1]
    snippet = section.split("```python\n", 1)[1].split("```\n", 1)[0]
    run_example(ingestd, tmp_path, sys.executable, "-c", snippet)
    [run] = finished_runs(ingestd, "vapi-sync", 1)
    assert run["status"] == "success" and run["counters"] == {"records_fetched": 120}
    [log] = log_rows(ingestd, run["run_id"])
    assert (log["step"], log["message"]) == ("FETCH", "fetched")
    assert json.loads(log["attrs"]) == {"records": 120}
