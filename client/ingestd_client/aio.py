"""``AsyncIngestClient``: the same client for asyncio code, never blocking the loop."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping
from typing import Any, Callable, TypeVar

from .batch import ClientStats
from .client import IngestClient
from .config import PathLike
from .handler import IngestHandler
from .runs import Run

F = TypeVar("F", bound=Callable[..., Any])


class AsyncIngestClient:
    """An :class:`IngestClient` for asyncio programs.

    Logging and run methods are plain (non-async) calls that only queue events, so they are
    safe to call on the event loop. The waiting ones, :meth:`flush` and :meth:`aclose`, run
    in a worker thread and are awaited, so the loop keeps running; both are bounded by
    their timeout. Use ``async with AsyncIngestClient() as client:`` to close on exit.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        spool_dir: PathLike | None = None,
        **options: Any,
    ) -> None:
        self.sync = IngestClient(url, token, spool_dir=spool_dir, **options)

    def __repr__(self) -> str:
        return f"<AsyncIngestClient {self.sync.url}>"

    def log(
        self,
        message: str,
        level: int | str = "info",
        **kwargs: Any,
    ) -> None:
        """Queue one log event (see :meth:`IngestClient.log`); does not block."""
        self.sync.log(message, level, **kwargs)

    def handler(self, level: int | str = logging.NOTSET) -> IngestHandler:
        """A :class:`logging.Handler` sending to this client."""
        return self.sync.handler(level)

    def run(
        self,
        job: str,
        *,
        trigger: str | None = None,
        attrs: Mapping[str, Any] | None = None,
        run_id: str | None = None,
    ) -> Run:
        """A run of ``job``, for ``async with client.run("job") as run:``."""
        return self.sync.run(job, trigger=trigger, attrs=attrs, run_id=run_id)

    def job(
        self,
        name: str | None = None,
        *,
        trigger: str | None = None,
        attrs: Mapping[str, Any] | None = None,
    ) -> Callable[[F], F]:
        """Decorator making each call of an async (or sync) function a run."""
        return self.sync.job(name, trigger=trigger, attrs=attrs)

    async def flush(self, timeout: float | None = None, *, wait_commit: bool = False) -> bool:
        """Wait, without blocking the loop, until pending events are handled (bounded);
        see :meth:`IngestClient.flush` for ``wait_commit``."""
        flush = self.sync.flush
        return bool(await _in_thread(lambda t: flush(t, wait_commit=wait_commit), timeout))

    async def aclose(self, timeout: float | None = None) -> None:
        """Deliver within ``timeout`` (default ``close_timeout``), spool the rest, stop."""
        await _in_thread(self.sync.close, timeout)

    def stats(self) -> ClientStats:
        """See :meth:`IngestClient.stats`."""
        return self.sync.stats()

    @property
    def dropped(self) -> int:
        """Events dropped so far."""
        return self.sync.dropped

    async def __aenter__(self) -> AsyncIngestClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def _in_thread(fn: Callable[[float | None], Any], timeout: float | None) -> Any:
    # A dedicated thread rather than the loop's default executor, so a loop whose executor
    # is busy or shut down still gets its answer within the timeout.
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def work() -> None:
        try:
            result = fn(timeout)
        except BaseException as exc:  # pragma: no cover - flush/close do not raise
            loop.call_soon_threadsafe(_set, future, None, exc)
        else:
            loop.call_soon_threadsafe(_set, future, result, None)

    threading.Thread(target=work, name="ingestd-wait", daemon=True).start()
    return await future


def _set(future: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if future.cancelled():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
