"""IngestHandler under concurrency: worker threads and asyncio tasks, and the asyncio client
never blocking its loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import logging.config
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from ingestd_client import AsyncIngestClient, IngestClient, IngestHandler

from tests.client_support import FaultProxy, make_client


@pytest.fixture
def client(ingestd: Any, tmp_path: Path) -> Iterator[IngestClient]:
    c = make_client(ingestd.url, ingestd.ingest_token, tmp_path / "spool", wait_for_commit=True)
    yield c
    c.close()


@pytest.fixture
def logger(client: IngestClient) -> Iterator[logging.Logger]:
    log = logging.getLogger(f"tests.client.{uuid.uuid4().hex[:8]}")
    log.setLevel(logging.INFO)
    log.propagate = False
    log.addHandler(IngestHandler(client))
    yield log
    log.handlers.clear()


def messages(ingestd: Any, run_id: str) -> list[str]:
    rows = ingestd.query(
        "SELECT message FROM logs WHERE run_id = $1 ORDER BY ts, id", uuid.UUID(run_id)
    )
    return [r["message"] for r in rows]


def test_logs_from_worker_threads_of_a_run_are_tied_to_it(
    ingestd: Any, client: IngestClient, logger: logging.Logger
) -> None:
    with client.run("threaded-import") as run, ThreadPoolExecutor(4) as pool:
        run.step("IMPORT")
        list(pool.map(lambda i: logger.info("file %02d", i), range(40)))
    assert client.flush(10)
    got = messages(ingestd, run.run_id)
    assert sorted(got) == [f"file {i:02d}" for i in range(40)]
    steps = ingestd.query("SELECT DISTINCT step FROM logs WHERE run_id = $1", uuid.UUID(run.run_id))
    assert steps == [{"step": "IMPORT"}]


def test_many_threads_logging_at_once_lose_nothing(
    ingestd: Any, client: IngestClient, logger: logging.Logger
) -> None:
    with client.run("hammer") as run:

        def hammer(t: int) -> None:
            for n in range(250):
                logger.info("t%d n%d", t, n)

        threads = [threading.Thread(target=hammer, args=(t,)) for t in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert client.flush(20)
    assert len(set(messages(ingestd, run.run_id))) == 2000
    assert client.dropped == 0


async def test_logs_from_concurrent_tasks_go_to_their_own_runs(
    ingestd: Any, client: IngestClient, logger: logging.Logger
) -> None:
    async def terminal(name: str) -> str:
        async with client.run("atm-retrieval", attrs={"terminal": name}) as run:
            for i in range(5):
                logger.info("%s step %d", name, i, extra={"terminal": name})
                await asyncio.sleep(0.005)
            return run.run_id

    ids = await asyncio.gather(*(terminal(f"T{n}") for n in range(4)))
    assert await asyncio.to_thread(client.flush, 10)
    for n, run_id in enumerate(ids):
        got = await asyncio.to_thread(messages, ingestd, run_id)
        assert got == [f"T{n} step {i}" for i in range(5)]


async def test_the_async_client_never_blocks_the_loop_even_when_ingestd_hangs(
    ingestd: Any, tmp_path: Path
) -> None:
    proxy = FaultProxy(ingestd.url)
    proxy.plan.extend(["hang"] * 5)
    client = AsyncIngestClient(
        proxy.url,
        ingestd.ingest_token,
        spool_dir=tmp_path / "spool",
        flush_interval=0.05,
        request_timeout=30,
        close_timeout=1.0,
    )
    lags: list[float] = []

    async def ticker() -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - before - 0.01)

    tick = asyncio.create_task(ticker())
    try:
        async with client.run("async-hang") as run:
            for i in range(200):
                client.log(f"a{i}")
                run.count(n=1)
        assert not await client.flush(0.3)
        started = time.perf_counter()
        await client.aclose()
        assert time.perf_counter() - started < 1.5
    finally:
        tick.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await tick
        proxy.close()
    assert lags and max(lags) < 0.2
    assert sorted((tmp_path / "spool").glob("*.ndjson.gz"))


def test_a_handler_built_from_options_as_dictconfig_does_owns_its_client(
    ingestd: Any, tmp_path: Path
) -> None:
    job = f"dictconfig-{uuid.uuid4().hex[:8]}"
    logging.config.dictConfig(
        {
            "version": 1,
            "incremental": False,
            "disable_existing_loggers": False,
            "handlers": {
                "ingestd": {
                    "class": "ingestd_client.IngestHandler",
                    "url": ingestd.url,
                    "token": ingestd.ingest_token,
                    "spool_dir": str(tmp_path / "spool"),
                    "wait_for_commit": True,
                }
            },
            "loggers": {job: {"handlers": ["ingestd"], "level": "INFO", "propagate": False}},
        }
    )
    log = logging.getLogger(job)
    handler = log.handlers[0]
    try:
        log.info("configured by dictConfig: %s", job)
        assert isinstance(handler, IngestHandler) and handler.client.flush(10)
    finally:
        log.removeHandler(handler)
        handler.close()
    rows = ingestd.query(
        "SELECT message FROM logs WHERE message = $1", f"configured by dictConfig: {job}"
    )
    assert len(rows) == 1
