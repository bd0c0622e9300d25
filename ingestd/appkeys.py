"""Typed keys for what the application holds."""

from __future__ import annotations

import asyncio

import asyncpg
from aiohttp import web

from ingestd.ingest import Ingest
from ingestd.settings import Settings
from ingestd.writer import BatchWriter

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", asyncpg.Pool)
INGEST = web.AppKey("ingest", Ingest)
WRITER = web.AppKey("writer", BatchWriter)
#: Set once migrations are applied; the writer waits for it.
SCHEMA_READY = web.AppKey("schema_ready", asyncio.Event)
WRITER_TASK = web.AppKey("writer_task", asyncio.Task[None])
