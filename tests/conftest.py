"""Fixtures: one throwaway PostgreSQL for the session, a fresh database per test, and
ingestd served for real, in-process (`server`) or as its own process (`ingestd`).

Each test's database is a copy of one migrated once per session (CREATE DATABASE ...
TEMPLATE): migrating took most of a test's setup. The migrations themselves are tested on
empty databases (`new_database(empty=True)`)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ingestd.app import create_app
from ingestd.db import database
from ingestd.db.database import SCHEMA_READY
from ingestd.ingest.service import INGEST
from ingestd.ingest.writer import WRITER
from ingestd.settings import Settings
from tests.pgcluster import ThrowawayCluster

# hypothesis (and schemathesis over it) keeps its example database in ./.hypothesis unless
# told otherwise: a test run must leave the checkout as it found it. A fixed place under the
# temp dir, so a failing example is still replayed first on the next run. Read by hypothesis
# when it first stores something, which is after this module is imported.
os.environ.setdefault(
    "HYPOTHESIS_STORAGE_DIRECTORY", str(Path(tempfile.gettempdir()) / "ingestd-hypothesis")
)

TOKENS_TEXT = "ingest-token:ingest read-token:read admin-token:ingest,read,admin"
START_TIMEOUT_S = 30.0
#: The database every test's database is copied from, migrated once per session.
MIGRATED_TEMPLATE = "t_migrated_template"


def dsn_for(base_dsn: str, database: str) -> str:
    parts = urlsplit(base_dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[ThrowawayCluster]:
    base = Path(tempfile.mkdtemp(prefix="ingestd-test-"))
    cluster = ThrowawayCluster.from_env(base)
    _in_thread(_make_template(cluster.dsn))
    yield cluster
    cluster.destroy()
    shutil.rmtree(base, ignore_errors=True)


async def _make_template(dsn: str) -> None:
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{MIGRATED_TEMPLATE}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(dsn_for(dsn, MIGRATED_TEMPLATE))
    try:
        await database.migrate(conn)
    finally:
        await conn.close()


def _in_thread(work: Coroutine[Any, Any, None]) -> None:
    """Runs a coroutine to its end on a loop of its own thread: callable from sync code
    while the session's loop is running."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(work)
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


def create_database_sql(name: str, *, empty: bool = False) -> str:
    template = "template1" if empty else MIGRATED_TEMPLATE
    return f'CREATE DATABASE "{name}" TEMPLATE "{template}"'


@pytest.fixture
async def new_database(
    pg_cluster: ThrowawayCluster,
) -> AsyncIterator[Callable[..., Awaitable[str]]]:
    """Factory of databases on the session cluster, migrated unless `empty`, dropped
    afterwards."""
    made: list[str] = []

    async def make(*, empty: bool = False) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        conn = await asyncpg.connect(pg_cluster.dsn)
        try:
            await conn.execute(create_database_sql(name, empty=empty))
        finally:
            await conn.close()
        made.append(name)
        return dsn_for(pg_cluster.dsn, name)

    yield make
    try:
        conn = await asyncpg.connect(pg_cluster.dsn, timeout=5)
    except (OSError, asyncpg.PostgresError):
        return  # the server is away; the databases go with the session's cluster
    else:
        try:
            for name in made:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@dataclass
class Served:
    """An in-process ingestd on a real port, with a client and a pool for assertions."""

    app: web.Application
    url: str
    http: aiohttp.ClientSession
    db: asyncpg.Pool
    settings: Settings

    async def flush(self) -> None:
        """Wait until everything accepted so far is committed."""
        await (await self.app[INGEST].barrier())

    @property
    def writer_stats(self) -> Any:
        return self.app[WRITER].stats


@pytest.fixture
async def server_factory(
    new_database: Callable[[], Awaitable[str]],
) -> AsyncIterator[Callable[..., Awaitable[Served]]]:
    started: list[tuple[TestServer, aiohttp.ClientSession, asyncpg.Pool]] = []
    made_dirs: list[Path] = []

    async def start(
        dsn: str | None = None, *, wait_for_schema: bool = True, **overrides: Any
    ) -> Served:
        dsn = dsn or await new_database()
        overrides.setdefault("data_dir", Path(tempfile.mkdtemp(prefix="ig-srv-")))
        made_dirs.append(overrides["data_dir"])
        settings = Settings(database_url=dsn, **overrides)
        app = create_app(settings)
        test_server = TestServer(app, host="127.0.0.1", port=0)
        await test_server.start_server()
        if wait_for_schema:
            try:
                async with asyncio.timeout(START_TIMEOUT_S):
                    await app[SCHEMA_READY].wait()
            except TimeoutError:
                await test_server.close()
                raise
        url = str(test_server.make_url("")).rstrip("/")
        http = aiohttp.ClientSession(base_url=url + "/")
        pool = await asyncpg.create_pool(dsn, min_size=0, max_size=2)
        started.append((test_server, http, pool))
        return Served(app, url, http, pool, settings)

    yield start
    for test_server, http, pool in reversed(started):
        await http.close()
        await pool.close()
        await test_server.close()
    for path in made_dirs:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def server(server_factory: Callable[..., Awaitable[Served]]) -> Served:
    return await server_factory()


# --- ingestd as a separate process: for clients, signals and shutdown ---------------------


@dataclass
class IngestdProcess:
    dsn: str
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    token: str = "admin-token"
    ingest_token: str = "ingest-token"
    read_token: str = "read-token"
    proc: subprocess.Popen[bytes] | None = None
    start_timeout: float = START_TIMEOUT_S

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start (again, on the same port and database) and wait until ready."""
        env = {
            **os.environ,
            "INGESTD_DATA_DIR": str(self.log_path.with_suffix(".data")),
            "INGESTD_DATABASE_URL": self.dsn,
            "INGESTD_TOKENS": TOKENS_TEXT,
            "INGESTD_HOST": "127.0.0.1",
            "INGESTD_PORT": str(self.port),
            **self.env,
        }
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ingestd", "serve"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + self.start_timeout
        while not self.port:
            text = self.log_path.read_bytes()[offset:].decode(errors="replace")
            found = re.search(r"listening on http://127\.0\.0\.1:(\d+)", text)
            if found:
                self.port = int(found.group(1))
            elif self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ingestd did not start:\n{text}")
            else:
                time.sleep(0.05)
        while not self._ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ingestd not ready:\n{self.log_path.read_text()}")
            time.sleep(0.05)

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/readyz", timeout=2) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send sig and wait; returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def query(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """Run SQL on this ingestd's database; callable from sync tests."""
        result: list[dict[str, Any]] = []

        async def run() -> None:
            conn = await asyncpg.connect(self.dsn)
            try:
                result.extend(dict(r) for r in await conn.fetch(sql, *args))
            finally:
                await conn.close()

        _in_thread(run())
        return result


def _processes(
    pg_cluster: ThrowawayCluster, directory: Path
) -> Iterator[Callable[..., IngestdProcess]]:
    """A factory of ingestd processes, each with a fresh database; all killed at the end."""
    made: list[IngestdProcess] = []

    def make(env: dict[str, str] | None = None) -> IngestdProcess:
        name = f"t_{uuid.uuid4().hex[:12]}"
        admin = IngestdProcess(pg_cluster.dsn, directory / "unused.log")
        admin.query(create_database_sql(name))
        process = IngestdProcess(
            dsn_for(pg_cluster.dsn, name),
            directory / f"ingestd-{len(made)}.log",
            env=dict(env or {}),
        )
        made.append(process)
        process.start()
        return process

    yield make
    for process in made:
        if process.proc is not None and process.proc.poll() is None:
            process.stop(signal.SIGKILL)


@pytest.fixture
def ingestd_factory(
    pg_cluster: ThrowawayCluster, tmp_path: Path
) -> Iterator[Callable[..., IngestdProcess]]:
    yield from _processes(pg_cluster, tmp_path)


@pytest.fixture(scope="module")
def ingestd_factory_module(
    pg_cluster: ThrowawayCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., IngestdProcess]]:
    """The same, shared by one module's tests (for corpora of many small cases)."""
    yield from _processes(pg_cluster, tmp_path_factory.mktemp("ingestd"))


@pytest.fixture
def ingestd(ingestd_factory: Callable[..., IngestdProcess]) -> IngestdProcess:
    return ingestd_factory()
