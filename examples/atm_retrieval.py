"""ATM data retrieval (seed 001): one run in phases, a log line per terminal with its
terminal and region as attributes, an execution summary as counters and result.

    INGESTD_URL=... INGESTD_TOKEN=... python examples/atm_retrieval.py

Afterwards: GET /v1/stats/errors?by=step, GET /v1/logs?attr.terminal_id=ATM-07.

LOST_TERMINALS=ATM-09,ATM-10 loses those terminals' lines on the way (as a proxy dropping a
batch would: numbered, never sent), so the run's log_completeness shows the gap.
"""

from __future__ import annotations

import logging
import os
import random
import time

from ingestd_client import IngestClient

log = logging.getLogger("atm_retrieval")

TERMINALS = [(f"ATM-{n:02d}", "NORTH" if n <= 7 else "SOUTH") for n in range(1, 15)]


def main() -> None:
    rng = random.Random(1)
    lost = set(filter(None, os.environ.get("LOST_TERMINALS", "").split(",")))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    with IngestClient() as client:
        logging.getLogger().addHandler(client.handler())
        attrs = {"demo_mode": True, "total_atms": len(TERMINALS)}
        with client.run("atm-retrieval", trigger="cron", attrs=attrs) as run:
            started = time.perf_counter()
            with run.step("CONNECTIVITY"):
                log.info("vendor portal reachable", extra={"latency_ms": 42})
            run.step("AUTH")
            log.info("authenticated as service user")
            run.step("REGIONAL")
            for region in ("NORTH", "SOUTH"):
                log.info("regional summary fetched", extra={"region_code": region, "records": 7})
                run.count(regional_records_processed=7)
            run.step("TERMINALS")
            for i, (terminal, region) in enumerate(TERMINALS, start=1):
                extra = {"terminal_id": terminal, "region_code": region}
                if terminal == "ATM-07":
                    log.warning("terminal offline, using cached balance", extra=extra)
                    run.count(terminals_failed_over=1)
                else:
                    cash = rng.randint(5_000, 80_000)
                    if terminal in lost:
                        run.next_seq()  # the line's number, taken as if it had been sent
                    else:
                        log.info(
                            "terminal %s: cash %d", terminal, cash, extra={**extra, "cash": cash}
                        )
                run.count(terminal_details_processed=1)
                run.progress(100 * i / len(TERMINALS))
                time.sleep(0.01)
            run.step("SAVE")
            log.info("saved to database")
            run.result(
                failover_activated=True,
                connection_status="ok",
                duration_seconds=round(time.perf_counter() - started, 3),
            )
            run.warning("1 terminal served from cache (ATM-07)")


if __name__ == "__main__":
    main()
