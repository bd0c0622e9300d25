"""GET /metrics: every event accounted for."""

from __future__ import annotations

import re
import uuid

import orjson

from tests.conftest import Served


async def scrape(server: Served) -> dict[str, float]:
    async with server.http.get("metrics") as answer:
        assert answer.status == 200
        assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await answer.text()
    values = {}
    for line in text.splitlines():
        found = re.match(r"(ingestd_\w+?)(?:_total)? ([0-9.e+-]+)$", line)
        if found:
            values[found.group(1)] = float(found.group(2))
    return values


async def test_accepted_equals_committed_plus_pending_plus_dead_lettered(server: Served) -> None:
    await server.db.execute("ALTER TABLE logs ADD CONSTRAINT no_poison CHECK (message <> 'poison')")
    run_id = str(uuid.uuid4())
    body = [
        {"message": "a", "run_id": run_id, "event_id": "e1"},
        {"message": "a again", "run_id": run_id, "event_id": "e1"},  # a duplicate
        {"message": "poison"},  # refused by the database
        {"message": 5},  # rejected by validation
        {"kind": "run", "run_id": run_id, "job": "j"},
    ]
    async with server.http.post("v1/events", data=orjson.dumps(body)) as answer:
        assert (await answer.json())["accepted"] == 4
    await server.flush()
    metrics = await scrape(server)
    assert metrics["ingestd_events_accepted"] == 4
    assert metrics["ingestd_events_rejected"] == 1
    assert metrics["ingestd_events_duplicate"] == 1
    assert metrics["ingestd_events_dead_lettered"] == 1
    assert metrics["ingestd_events_committed"] == 3
    assert metrics["ingestd_events_pending"] == 0
    assert (
        metrics["ingestd_events_accepted"]
        == metrics["ingestd_events_committed"]
        + metrics["ingestd_events_pending"]
        + metrics["ingestd_events_dead_lettered"]
    )
    assert metrics["ingestd_batch_events_count"] >= 1
    assert "ingestd_queue_events" in metrics
    assert "ingestd_spool_bytes" in metrics
