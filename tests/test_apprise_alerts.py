"""Alerts delivered through Apprise URLs: a real Apprise json:// delivery to a local receiver,
retries, the address policy, redaction, and the settings that configure them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from ingestd.http.auth import parse_tokens
from ingestd.monitoring import apprise_targets
from ingestd.monitoring.alerts import DISPATCHER
from ingestd.monitoring.apprise_targets import FORMAT, send_blocking
from ingestd.monitoring.webhooks import Target
from ingestd.settings import SettingsError, from_env
from tests.conftest import Served
from tests.monitor_helpers import Receiver, alerts, eventually, put_job, receiver, run, send, tick

__all__ = ["receiver"]  # the fixture

Factory = Callable[..., Awaitable[Served]]
TOKENS_TEXT = "admin-secret-token:ingest,read,admin reader-secret-token:read"


def apprise_url(hook: Receiver) -> str:
    """Apprise's json:// service posts {title, message, type} to any HTTP endpoint."""
    return hook.url.replace("http://", "json://")


async def test_a_failed_run_reaches_a_global_apprise_url(
    server_factory: Factory, receiver: Receiver
) -> None:
    server = await server_factory(
        monitor_interval_s=3600,
        alert_apprise_urls=(Target(apprise_url(receiver), FORMAT),),
        webhook_allow_private=True,  # the receiver is on 127.0.0.1
    )
    await send(server, run("import", datetime.now(UTC), status="failed", error={"message": "gone"}))
    await tick(server)
    [message] = await receiver.wait_for(1)
    assert message["title"] == "[ingestd] failed: import"
    assert message["message"].startswith("[ingestd] import: run ")
    assert message["message"].endswith("failed after 1 min: gone")
    assert message["type"] == "failure"
    await eventually(lambda: server.app[DISPATCHER].stats.sent == 1)
    [listed] = await alerts(server, job="import")
    assert listed["status"] == "sent"
    assert [d["format"] for d in listed["deliveries"]] == ["apprise"]


async def test_a_failing_apprise_target_is_retried_until_it_takes_the_alert(
    server_factory: Factory, receiver: Receiver
) -> None:
    server = await server_factory(
        monitor_interval_s=3600, webhook_allow_private=True, alert_retry_base_s=0.05
    )
    await put_job(server, "flaky", alerts={"apprise": [apprise_url(receiver)]})
    receiver.fail_next = 1
    await send(server, run("flaky", datetime.now(UTC), status="timed_out"))
    await tick(server)
    await receiver.wait_for(1)
    await eventually(lambda: server.app[DISPATCHER].stats.sent == 1)
    assert receiver.attempts == 2
    assert server.app[DISPATCHER].stats.errors == 1


async def test_an_apprise_url_the_job_settings_keep_and_redact(server_factory: Factory) -> None:
    server = await server_factory(webhook_allow_private=True, tokens=parse_tokens(TOKENS_TEXT))
    url = "tgram://123456789:AAbbSECRET/-100200300"
    body = orjson.dumps({"alerts": {"apprise": [url, url]}})
    headers = {"Authorization": "Bearer admin-secret-token"}
    async with server.http.put("v1/jobs/people", data=body, headers=headers) as answer:
        assert answer.status == 201, await answer.text()
        assert (await answer.json())["alerts"]["apprise"] == [url]
    reader = {"Authorization": "Bearer reader-secret-token"}
    async with server.http.get("v1/jobs/people", headers=reader) as answer:
        assert (await answer.json())["alerts"]["apprise"] == ["tgram://[redacted]"]


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("nosuch://x/y", "is not an Apprise URL that Apprise can read"),
        ("tgram://", "is not an Apprise URL that Apprise can read"),
        ("json://127.0.0.1:9/hook", "may not go to 127.0.0.1: a loopback address"),
        ("ntfy://169.254.169.254/topic", "may not go to 169.254.169.254: a link-local"),
        ("mailtos://user:pw@example.com?smtp=10.0.0.5", "may not go to 10.0.0.5: a private"),
        (12, "must be a string"),
    ],
)
async def test_an_unusable_apprise_url_is_refused_when_saved(
    server_factory: Factory, url: Any, why: str
) -> None:
    server = await server_factory()
    body = orjson.dumps({"alerts": {"apprise": [url]}})
    async with server.http.put("v1/jobs/nosy", data=body) as answer:
        assert answer.status == 400
        assert answer.content_type == "application/problem+json"
        assert why in (await answer.json())["detail"]


def test_a_service_at_a_fixed_address_is_not_judged_by_its_token() -> None:
    # Telegram's URL host part is the bot token; Discord's a numeric id: no address to judge.
    for url in ("tgram://123456:abc/42", "discord://4294967295/token"):
        assert apprise_targets.check_url(url) == url


def test_global_apprise_urls_are_checked_at_start() -> None:
    env = {"INGESTD_ALERT_APPRISE_URLS": "ntfys://topic json://192.168.1.9/x"}
    with pytest.raises(SettingsError, match="INGESTD_ALERT_APPRISE_URLS: an Apprise URL may"):
        from_env(env)
    allowed = from_env({**env, "INGESTD_WEBHOOK_ALLOW_PRIVATE": "1"})
    assert allowed.alert_apprise_urls == (
        Target("ntfys://topic", FORMAT),
        Target("json://192.168.1.9/x", FORMAT),
    )


async def test_an_apprise_delivery_never_connects_to_a_private_address(receiver: Receiver) -> None:
    # A name (here localhost, which DNS could return for any name) is only judged as it
    # connects: the saved-URL check cannot see where it resolves.
    port = receiver.url.split(":")[2].split("/")[0]
    alert = {"rule": "failed", "job": "nosy", "text": "[ingestd] nosy: failed"}
    for host in ("localhost", "127.0.0.1"):
        url = f"json://{host}:{port}/hook"
        error = await asyncio.to_thread(send_blocking, url, alert, timeout_s=2, allow_private=False)
        assert error is not None
        assert "refused to connect to" in error
        assert "a loopback address" in error
    assert receiver.attempts == 0
    sent = asyncio.to_thread(
        send_blocking, apprise_url(receiver), alert, timeout_s=2, allow_private=True
    )
    assert await sent is None  # in a thread: the receiver answers on this loop
    assert receiver.attempts == 1


async def test_read_only_tokens_see_no_apprise_secrets_in_the_alert_list(
    server_factory: Factory, receiver: Receiver
) -> None:
    server = await server_factory(
        monitor_interval_s=3600,
        tokens=parse_tokens(TOKENS_TEXT),
        webhook_allow_private=True,
        alert_max_attempts=1,
    )
    secret = apprise_url(receiver).replace("json://", "json://user:s3cret@")
    receiver.fail_next = 1
    body = orjson.dumps({"alerts": {"apprise": [secret]}})
    admin = {"Authorization": "Bearer admin-secret-token"}
    async with server.http.put("v1/jobs/quiet", data=body, headers=admin) as answer:
        assert answer.status == 201, await answer.text()
    event = orjson.dumps(run("quiet", datetime.now(UTC), status="failed"))
    async with server.http.post("v1/events?wait=commit", data=event, headers=admin) as answer:
        assert answer.status == 200, await answer.text()
    await tick(server)
    await eventually(lambda: server.app[DISPATCHER].stats.failed == 1)
    reader = {"Authorization": "Bearer reader-secret-token"}
    async with server.http.get("v1/alerts", headers=reader) as answer:
        text = await answer.text()
    assert "s3cret" not in text
    [delivery] = orjson.loads(text)["items"][0]["deliveries"]
    assert delivery["target"] == "json://[redacted]"
    assert delivery["last_error"] == "Apprise"
    async with server.http.get("v1/alerts", headers=admin) as answer:
        [delivery] = (await answer.json())["items"][0]["deliveries"]
    assert delivery["target"] == secret
    assert delivery["last_error"].startswith("Apprise: ")


async def test_a_test_alert_goes_to_every_target_and_says_how_each_went(
    server_factory: Factory, receiver: Receiver
) -> None:
    server = await server_factory(
        webhook_allow_private=True,
        alert_webhooks=(Target(receiver.url),),
        alert_apprise_urls=(Target(apprise_url(receiver), FORMAT),),
        tokens=parse_tokens(TOKENS_TEXT),
    )
    admin = {"Authorization": "Bearer admin-secret-token"}
    closed = "json://127.0.0.1:9/nobody"  # the discard port: nothing listens
    body = orjson.dumps({"alerts": {"apprise": [closed]}})
    async with server.http.put("v1/jobs/etl", data=body, headers=admin) as answer:
        assert answer.status == 201, await answer.text()
    async with server.http.post("v1/jobs/etl/alerts/test", headers=admin) as answer:
        assert answer.status == 200, await answer.text()
        results = (await answer.json())["results"]
    by_target = {r["target"]: r for r in results}
    assert set(by_target) == {closed, receiver.url, apprise_url(receiver)}
    assert by_target[receiver.url]["status"] == "sent"
    assert by_target[apprise_url(receiver)]["status"] == "sent"
    assert by_target[closed]["status"] == "failed"
    assert by_target[closed]["error"].startswith("Apprise: ")
    assert len(receiver.received) == 2
    [apprised] = [m for m in receiver.received if "title" in m]
    [webhook] = [m for m in receiver.received if "rule" in m]
    assert apprised["title"] == "[ingestd] test: etl"
    assert webhook["rule"] == "test"
    async with server.http.get("v1/alerts", headers=admin) as answer:
        assert (await answer.json())["items"] == []  # a test is not an alert: not recorded


async def test_a_test_alert_needs_an_admin_and_a_known_job(server_factory: Factory) -> None:
    server = await server_factory(tokens=parse_tokens(TOKENS_TEXT))
    reader = {"Authorization": "Bearer reader-secret-token"}
    async with server.http.post("v1/jobs/etl/alerts/test", headers=reader) as answer:
        assert answer.status == 403
    admin = {"Authorization": "Bearer admin-secret-token"}
    async with server.http.post("v1/jobs/nobody/alerts/test", headers=admin) as answer:
        assert answer.status == 404
        assert answer.content_type == "application/problem+json"
