"""Backup job with progress (seed 003): progress 0-100 and the current step, a flaky upload
retried with warnings, the archive's details as the result.

    INGESTD_URL=... INGESTD_TOKEN=... python examples/backup_job.py

Afterwards: GET /v1/runs?job=nightly-backup shows progress and step while it runs.

BACKUP_SLOW=1 makes the upload slow down: four failed attempts, each waiting longer, then
success; GET /v1/runs/{id}/compare sets it against the usual durations (docs/recipes.md).
"""

from __future__ import annotations

import os
import time

from ingestd_client import IngestClient

TABLES = ["users", "orders", "invoices", "events", "audit"]


class UploadError(Exception):
    pass


def upload(attempt: int, failures: int) -> None:
    time.sleep(0.05 * (attempt if failures > 2 else 1))
    if attempt <= failures:
        raise UploadError(f"S3 503 Slow Down (attempt {attempt})")


def main() -> None:
    failures = 4 if os.environ.get("BACKUP_SLOW") == "1" else 2
    client = IngestClient()  # INGESTD_URL, INGESTD_TOKEN
    with client.run("nightly-backup", trigger="cron", attrs={"target": "s3"}) as run:
        run.step("DUMP")
        for n, table in enumerate(TABLES, start=1):
            time.sleep(0.02)
            run.count(tables_dumped=1, bytes_dumped=1_000_000 * n)
            run.progress(60 * n / len(TABLES))
            run.log.info("dumped %s", table, extra={"table": table})
        run.step("UPLOAD")
        for attempt in range(1, 6):
            try:
                upload(attempt, failures)
                break
            except UploadError as exc:
                run.count(retries=1)
                run.log.warning("upload failed, retrying: %s", exc, extra={"attempt": attempt})
        run.progress(100)
        run.result(archive="backup-2025-06-27.tar.zst", size_bytes=15_000_000, retries=failures)
    client.close()  # delivers what is pending (bounded); the rest waits in the spool


if __name__ == "__main__":
    main()
