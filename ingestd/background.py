"""Background tasks: started with a name, and never dying silently."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger("ingestd")


def spawn(work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
    """A task whose crash is logged with its traceback the moment it happens, not when (or
    if) somebody awaits it."""
    task = asyncio.create_task(work, name=name)
    task.add_done_callback(_report_crash)
    return task


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task %s died", task.get_name(), exc_info=task.exception())
