"""GET /v1/logs: newest first, every filter, keyset pages stable under inserts, errors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ingestd.read.api import next_slice
from tests import read_helpers
from tests.conftest import Served
from tests.read_helpers import Seeded, bad, get, iso, rid, send

seeded = read_helpers.seeded
empty = read_helpers.empty

NEWEST_FIRST = [
    "disk 91% full on /var/lib",
    "cleaned 12 temp files",
    "Parsed 400 of 1000 records",
    "Profile 'jane_counselor' login failed",
    "Sync completed",
    "Saved 118 calls to 100% of tables",
    "Timeout after 5000 ms fetching page 7, retrying",
    "Fetched 120 calls",
    "Starting VAPI synchronization",
    "Timeout after 30000 ms fetching page 3",
    "Fetching calls from VAPI API...",
    "Starting VAPI synchronization",
    "Authentication failed for terminal T02: 403",
    "Authentication failed for terminal T02: 401",
    "Connected to terminal T01",
    "Starting VAPI synchronization",
]


async def logs(seeded: Seeded, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await get(seeded.server, "v1/logs", **params))["items"]
    return items


async def messages(seeded: Seeded, **params: Any) -> list[str]:
    return [log["message"] for log in await logs(seeded, **params)]


async def test_logs_come_newest_first_with_every_field(seeded: Seeded) -> None:
    body = await get(seeded.server, "v1/logs")
    assert [log["message"] for log in body["items"]] == NEWEST_FIRST
    assert body["next_cursor"] is None
    first = body["items"][0]
    assert set(first) >= {
        "id", "ts", "received_at", "level", "levelno", "job", "run_id", "step", "message",
        "attrs", "source", "error",
    }  # fmt: skip
    # A log outside any run shows no run.
    assert first["job"] == "cron-cleanup" and first["run_id"] is None
    assert first["level"] == "warning" and first["levelno"] == 30
    assert first["ts"] == iso(seeded.now - timedelta(minutes=2))
    timeout = body["items"][9]
    assert timeout["run_id"] == seeded.runs["sync_failed"] and timeout["step"] == "FETCH"
    assert timeout["error"] == {"type": "TimeoutError", "message": "Timeout after 30000 ms"}
    assert timeout["level"] == "error" and timeout["fingerprint"]
    connected = body["items"][14]
    assert connected["source"] == {"module": "atm", "line": 42}
    assert connected["attrs"] == {"terminal_id": "T01"}


async def test_logs_by_level(seeded: Seeded) -> None:
    # A level name covers its band (error: 40-49); a number means itself.
    assert await messages(seeded, level="error") == [
        "Profile 'jane_counselor' login failed",
        "Timeout after 30000 ms fetching page 3",
        "Authentication failed for terminal T02: 401",
    ]
    assert len(await messages(seeded, level="error,CRITICAL")) == 4
    assert await messages(seeded, level="50") == ["Authentication failed for terminal T02: 403"]
    assert await messages(seeded, level="warn") == [
        "disk 91% full on /var/lib",
        "Timeout after 5000 ms fetching page 7, retrying",
    ]
    assert await messages(seeded, level="success") == ["Sync completed"]
    assert len(await messages(seeded, min_level="error")) == 4
    assert len(await messages(seeded, min_level="40")) == 4
    assert len(await messages(seeded, min_level="warning")) == 6
    assert len(await messages(seeded, min_level="trace")) == len(NEWEST_FIRST)


async def test_logs_by_job_run_step_and_time(seeded: Seeded) -> None:
    assert await messages(seeded, job="cron-cleanup") == NEWEST_FIRST[:2]
    assert await messages(seeded, job="atm-retrieval", min_level="critical") == [
        "Authentication failed for terminal T02: 403"
    ]
    assert await messages(seeded, run_id=seeded.runs["sync_ok"]) == NEWEST_FIRST[4:9]
    assert await messages(seeded, run_id=rid()) == []
    assert await messages(seeded, step="AUTH") == NEWEST_FIRST[12:14]
    assert await messages(seeded, since="30m") == NEWEST_FIRST[:3]
    now = seeded.now
    window = {"since": iso(now - timedelta(minutes=120)), "until": iso(now - timedelta(minutes=59))}
    assert await messages(seeded, **window) == NEWEST_FIRST[8:12]
    # The old run's log is ten days back, older than any partition: it is still found.
    assert await messages(seeded, until="7d") == ["Starting VAPI synchronization"]


async def test_q_finds_text_in_messages_whatever_its_case(seeded: Seeded) -> None:
    assert await messages(seeded, q="timeout") == [NEWEST_FIRST[6], NEWEST_FIRST[9]]
    assert await messages(seeded, q="TERMINAL t02") == NEWEST_FIRST[12:14]
    # Pattern characters are plain text.
    assert await messages(seeded, q="91%") == ["disk 91% full on /var/lib"]
    assert await messages(seeded, q="jane_counselor") == ["Profile 'jane_counselor' login failed"]
    assert await messages(seeded, q="%") == [NEWEST_FIRST[0], NEWEST_FIRST[5]]
    assert await messages(seeded, q="timeout", min_level="error") == [NEWEST_FIRST[9]]
    assert await messages(seeded, q="no such words") == []


async def test_logs_by_attribute(seeded: Seeded) -> None:
    assert await messages(seeded, **{"attr.terminal_id": "T02"}) == NEWEST_FIRST[12:14]
    # profile_id was sent as the number 2: attr.profile_id=2 finds it.
    assert await messages(seeded, **{"attr.profile_id": "2"}) == [NEWEST_FIRST[3]]
    assert await messages(seeded, **{"attr.count": "120"}) == ["Fetched 120 calls"]
    both = {"attr.terminal_id": "T02", "level": "critical"}
    assert await messages(seeded, **both) == [NEWEST_FIRST[12]]
    assert await messages(seeded, **{"attr.terminal_id": "T09"}) == []


async def test_logs_by_fingerprint_group_messages_that_differ_in_numbers(seeded: Seeded) -> None:
    auth = await logs(seeded, step="AUTH")
    assert auth[0]["fingerprint"] == auth[1]["fingerprint"]
    assert await messages(seeded, fingerprint=auth[0]["fingerprint"]) == NEWEST_FIRST[12:14]


async def test_pages_walk_every_log_once(seeded: Seeded) -> None:
    seen: list[str] = []
    params: dict[str, str] = {"limit": "5"}
    while True:
        body = await get(seeded.server, "v1/logs", **params)
        seen += [log["message"] for log in body["items"]]
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]
    assert seen == NEWEST_FIRST
    # With a filter, on every page.
    page = await get(seeded.server, "v1/logs", min_level="warning", limit="4")
    rest = await get(
        seeded.server, "v1/logs", min_level="warning", limit="4", cursor=page["next_cursor"]
    )
    assert len(page["items"]) == 4 and len(rest["items"]) == 2 and rest["next_cursor"] is None


async def test_pages_stay_stable_while_logs_arrive(empty: Served) -> None:
    server = empty
    run_id = rid()
    stamps = [f"2026-03-01T12:00:0{i}Z" for i in range(8)]
    await send(
        server, *({"message": f"m{i}", "ts": ts, "run_id": run_id} for i, ts in enumerate(stamps))
    )
    page = await get(server, "v1/logs", limit="3")
    assert [log["message"] for log in page["items"]] == ["m7", "m6", "m5"]
    # More arrive: newer ones, and one at the same instant as the page's last line.
    await send(
        server,
        {"message": "new1", "ts": "2026-03-01T12:00:30Z", "run_id": run_id},
        {"message": "same-instant", "ts": stamps[5], "run_id": run_id},
        {"message": "new2", "ts": "2026-03-01T12:00:31Z"},
    )
    rest: list[str] = []
    cursor = page["next_cursor"]
    while cursor is not None:
        body = await get(server, "v1/logs", limit="3", cursor=cursor)
        rest += [log["message"] for log in body["items"]]
        cursor = body["next_cursor"]
    # Nothing twice, nothing skipped. Ties on ts are broken by id (newest first), so the late
    # line at the page's last instant sorts before the cursor, with the other new ones.
    assert rest == ["m4", "m3", "m2", "m1", "m0"]
    first = await get(server, "v1/logs", limit="6")
    assert [log["message"] for log in first["items"]] == [
        "new2", "new1", "m7", "m6", "same-instant", "m5",
    ]  # fmt: skip


async def test_every_bad_parameter_is_a_400_naming_it(seeded: Seeded) -> None:
    server = seeded.server
    await bad(server, "v1/logs", "level", level="loud")
    await bad(server, "v1/logs", "level", level="error,,info")
    await bad(server, "v1/logs", "min_level", min_level="101")
    await bad(server, "v1/logs", "min_level", min_level="-1")
    await bad(server, "v1/logs", "run_id", run_id="1234")
    await bad(server, "v1/logs", "since", since="2026-13-45")
    await bad(server, "v1/logs", "until", until="soon")
    await bad(server, "v1/logs", "q", q="   ")
    await bad(server, "v1/logs", "q", q="x" * 201)
    await bad(server, "v1/logs", "limit", limit="-5")
    await bad(server, "v1/logs", "lvl", lvl="error")
    await bad(server, "v1/logs", "attr.", **{"attr.": "T02"})
    runs_cursor = (await get(server, "v1/runs", limit="1"))["next_cursor"]
    await bad(server, "v1/logs", "cursor", cursor=runs_cursor)


def test_each_slice_of_a_newest_first_read_is_sized_by_what_the_last_ones_found() -> None:
    minutes = timedelta(minutes=1)
    # Nothing found yet (a rare term): four times the time read so far.
    assert next_slice(5 * minutes, found=0, want=50) == 20 * minutes
    # Half a page in 5 minutes: the rest at that density, and half again.
    assert next_slice(5 * minutes, found=25, want=50) == 7.5 * minutes
    # Never narrower than what was read, never wider than the empty case.
    assert next_slice(5 * minutes, found=49, want=50) == 5 * minutes
    assert next_slice(5 * minutes, found=1, want=50) == 20 * minutes
