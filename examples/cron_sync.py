"""Cron jobs syncing call data (seed 002): vapi-sync and qci-analysis with the standard
steps START / FETCH / SAVE / END, counters for records and API cost.

    INGESTD_URL=... INGESTD_TOKEN=... python examples/cron_sync.py

Afterwards: GET /v1/jobs, GET /v1/stats/jobs?days=7.

VAPI_FAIL=1 makes vapi-sync fail while saving (the database times out on the third page);
VAPI_LOST_PAGES=1 loses the "saved page" lines on the way (numbered, never sent), so the
run's log_completeness shows the gap. See docs/recipes.md, 002.
"""

from __future__ import annotations

import contextlib
import os
import random

from ingestd_client import IngestClient


def fetch_calls(rng: random.Random) -> list[dict]:
    return [{"id": f"call-{n}", "duration_s": rng.randint(10, 600)} for n in range(120)]


class SaveTimeout(Exception):
    pass


def main() -> None:
    rng = random.Random(2)
    fail = os.environ.get("VAPI_FAIL") == "1"
    lose_pages = os.environ.get("VAPI_LOST_PAGES") == "1"
    with IngestClient() as client:
        calls = fetch_calls(rng)
        # A failed save: the run's exit marks it failed, with the error, before suppress
        # swallows it; the analysis runs all the same.
        with contextlib.suppress(SaveTimeout), client.run("vapi-sync", trigger="cron") as run:
            run.step("START")
            run.log.info("Starting VAPI synchronization")
            run.step("FETCH")
            run.count(records_fetched=len(calls), api_cost=0.0125)
            run.log.info("Fetched %d calls", len(calls), extra={"count": len(calls)})
            run.step("SAVE")
            for page in range(0, len(calls), 50):
                chunk = calls[page : page + 50]
                if fail and page == 100:
                    raise SaveTimeout(f"insert of calls {page}-{page + len(chunk)} timed out")
                run.count(records_inserted=len(chunk))
                if lose_pages:
                    run.next_seq()  # the line's number, taken as if it had been sent
                else:
                    run.log.info("saved page", extra={"offset": page, "count": len(chunk)})
            run.step("END")
            run.log.info("Sync completed")

        with client.run("qci-analysis", trigger="cron") as run:
            run.step("START")
            for call in calls[:30]:
                run.count(calls_analyzed=1, api_cost=0.0031)
                if call["duration_s"] < 20:
                    run.log.warning("call too short to analyse", extra={"call_id": call["id"]})
            run.step("END")
            run.result(model="qci-v2", calls=30)


if __name__ == "__main__":
    main()
