"""Typed keys for what the application holds."""

from __future__ import annotations

import asyncio

import asyncpg
from aiohttp import web

from ingestd.alerts import Dispatcher
from ingestd.clock import Clock
from ingestd.ingest import Ingest
from ingestd.monitor import Monitor
from ingestd.read_db import ReadDb
from ingestd.retention import Retention
from ingestd.settings import Settings
from ingestd.tailhub import TailHub
from ingestd.writer import BatchWriter

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", asyncpg.Pool)
INGEST = web.AppKey("ingest", Ingest)
WRITER = web.AppKey("writer", BatchWriter)
#: Set once migrations are applied; the writer waits for it.
SCHEMA_READY = web.AppKey("schema_ready", asyncio.Event)
WRITER_TASK = web.AppKey("writer_task", asyncio.Task[None])
#: Read queries, bounded so they leave the writer a connection.
READ_DB = web.AppKey("read_db", ReadDb)
#: Live tail subscribers, fed by the writer's commits.
TAIL = web.AppKey("tail", TailHub)
#: Watching the jobs (monitoring.py): the clock they judge time by (tests move it), the
#: monitor, alert delivery, retention.
CLOCK = web.AppKey("clock", Clock)
MONITOR = web.AppKey("monitor", Monitor)
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
RETENTION = web.AppKey("retention", Retention)
