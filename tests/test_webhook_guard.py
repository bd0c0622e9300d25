"""Webhooks go to public addresses only (unless allowed), and read-only tokens do not see
their secrets: refused when saved, refused again when connecting, redacted when read."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from ingestd.http.auth import parse_tokens
from ingestd.monitoring.alerts import DISPATCHER
from ingestd.monitoring.webhooks import Target
from ingestd.settings import SettingsError, from_env
from tests.conftest import TOKENS_TEXT, Served
from tests.monitor_helpers import Receiver, eventually, receiver, run, served, tick
from tests.pgcluster import ThrowawayCluster

__all__ = ["receiver"]  # the fixture

Factory = Callable[..., Awaitable[Served]]
ADMIN = {"Authorization": "Bearer admin-token"}
READER = {"Authorization": "Bearer read-token"}

METADATA_SPELLINGS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.169.254./",  # a trailing dot
    "http://2852039166/",  # decimal
    "http://0xa9fea9fe/",  # hex
    "http://0251.0376.0251.0376/",  # octal
    "http://0xa9.0xfe.0xa9.0xfe/",
    "http://[::ffff:169.254.169.254]/",  # IPv4-mapped IPv6
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64
]
PRIVATE_TARGETS = [
    "http://127.0.0.1:8080/hook",
    "http://127.1/",
    "http://2130706433/",
    "http://localhost/",
    "http://hooks.localhost/",
    "http://[::1]/",
    "http://0.0.0.0/",
    "http://10.1.2.3/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",  # carrier-grade NAT
    "http://[fd00::1]/",
    "http://[fe80::1]/",
]


@pytest.fixture(scope="module")
async def server(pg_cluster: ThrowawayCluster) -> AsyncIterator[Served]:
    async with served(pg_cluster) as shared:
        yield shared


@pytest.mark.parametrize("url", METADATA_SPELLINGS + PRIVATE_TARGETS)
async def test_a_webhook_to_a_private_address_is_refused_when_saved(
    server: Served, url: str
) -> None:
    for webhook in (url, {"url": url, "format": "slack"}):
        body = orjson.dumps({"alerts": {"webhooks": [webhook]}})
        async with server.http.put("v1/jobs/nosy", data=body) as answer:
            assert answer.status == 400
            assert answer.content_type == "application/problem+json"
            detail = (await answer.json())["detail"]
        assert "a webhook may not go to" in detail
        assert "INGESTD_WEBHOOK_ALLOW_PRIVATE" in detail


@pytest.mark.parametrize(
    "url", ["https://hooks.slack.com/services/T0/B0/x", "http://8.8.8.8/", "http://deadbeef/"]
)
async def test_a_webhook_to_a_public_address_or_a_name_is_saved(server: Served, url: str) -> None:
    body = orjson.dumps({"alerts": {"webhooks": [url]}})
    async with server.http.put("v1/jobs/fine", data=body) as answer:
        assert answer.status in (200, 201), await answer.text()


async def test_with_the_setting_a_private_webhook_is_saved(server_factory: Factory) -> None:
    server = await server_factory(webhook_allow_private=True)
    body = orjson.dumps({"alerts": {"webhooks": ["http://10.1.2.3/chat"]}})
    async with server.http.put("v1/jobs/on-prem", data=body) as answer:
        assert answer.status == 201


def test_a_private_global_webhook_stops_the_start_unless_allowed() -> None:
    env = {"INGESTD_ALERT_WEBHOOKS": "slack:http://169.254.169.254/x"}
    with pytest.raises(SettingsError, match="INGESTD_ALERT_WEBHOOKS: a webhook may not go to"):
        from_env(env)
    allowed = from_env({**env, "INGESTD_WEBHOOK_ALLOW_PRIVATE": "1"})
    assert allowed.alert_webhooks == (Target("http://169.254.169.254/x", "slack"),)


async def test_a_delivery_never_connects_to_a_private_address(
    server_factory: Factory, receiver: Receiver
) -> None:
    # Built directly, as a name that DNS (re)binds to a private address would pass the save.
    port = receiver.url.split(":")[2].split("/")[0]
    targets = (Target(receiver.url), Target(f"http://localhost:{port}/hook"))
    server = await server_factory(
        monitor_interval_s=3600, alert_webhooks=targets, alert_max_attempts=1
    )
    await _post_run(server, {}, run("nosy", datetime.now(UTC), status="failed"))
    await tick(server)
    await eventually(lambda: server.app[DISPATCHER].stats.failed == 2)
    assert receiver.attempts == 0
    [alert] = await _get(server, "v1/alerts", {})
    errors = [d["last_error"] for d in alert["deliveries"]]
    assert len(errors) == 2
    assert all("refused to connect to 127.0.0.1: a loopback address" in e for e in errors)


async def test_read_only_tokens_see_no_webhook_secrets_nor_answers(
    server_factory: Factory, receiver: Receiver
) -> None:
    server = await server_factory(
        monitor_interval_s=3600,
        tokens=parse_tokens(TOKENS_TEXT),
        webhook_allow_private=True,
        alert_max_attempts=1,
    )
    secret_url = receiver.url.replace("http://", "http://user:pw@") + "?token=s3cret"
    other_url = receiver.url + "?key=s3cret-too"
    receiver.fail_next = 2  # both answer "receiver down"
    webhooks = [secret_url, {"url": other_url, "format": "slack"}]
    body = orjson.dumps({"alerts": {"webhooks": webhooks}})
    async with server.http.put("v1/jobs/etl", data=body, headers=ADMIN) as answer:
        assert answer.status == 201
        assert (await answer.json())["alerts"]["webhooks"] == webhooks
    await _post_run(server, ADMIN, run("etl", datetime.now(UTC), status="failed"))
    await tick(server)
    await eventually(lambda: server.app[DISPATCHER].stats.failed == 2)

    hidden = receiver.url.rsplit("/", 1)[0] + "/[redacted]"
    seen = (await _get(server, "v1/jobs/etl", READER))["alerts"]["webhooks"]
    assert seen == [hidden, {"url": hidden, "format": "slack"}]
    [alert] = await _get(server, "v1/alerts", READER)
    assert [(d["target"], d["last_error"]) for d in alert["deliveries"]] == [
        (hidden, "HTTP 500"),
        (hidden, "HTTP 500"),
    ]
    assert "s3cret" not in orjson.dumps(alert).decode()

    assert (await _get(server, "v1/jobs/etl", ADMIN))["alerts"]["webhooks"] == webhooks
    [alert] = await _get(server, "v1/alerts", ADMIN)
    assert {(d["target"], d["last_error"]) for d in alert["deliveries"]} == {
        (secret_url, "HTTP 500: receiver down"),
        (other_url, "HTTP 500: receiver down"),
    }


async def _post_run(server: Served, headers: dict[str, str], event: dict[str, Any]) -> None:
    async with server.http.post(
        "v1/events?wait=commit", data=orjson.dumps(event), headers=headers
    ) as answer:
        assert answer.status == 200, await answer.text()


async def _get(server: Served, path: str, headers: dict[str, str]) -> Any:
    async with server.http.get(path, headers=headers) as answer:
        assert answer.status == 200, await answer.text()
        document = await answer.json()
    return document.get("items", document)
