"""``IngestHandler``: the standard ``logging`` module, into ingestd."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, cast

from .sink import make_client

if TYPE_CHECKING:
    from .client import IngestClient


class IngestHandler(logging.Handler):
    """A :class:`logging.Handler` that sends records to ingestd.

    Each record becomes a log event: level, message, ``source`` (logger, module, function,
    line, file, host, pid), ``error`` from ``exc_info`` (type, message, stack) and ``attrs``
    from ``extra=`` (JSON values as they are, others by ``repr``). Inside a run (see
    :meth:`IngestClient.run`) the event carries the run's ``run_id``, ``job`` and current
    ``step`` with no extra arguments.

    ``emit`` only formats the message and appends to an in-memory queue: no I/O, no lock,
    no JSON in the calling thread. Building the event is done on the sender thread, so
    objects passed in ``extra=`` should not be mutated right after the call.

    Pass an existing ``client``, or let the handler make (and own) one from ``url``,
    ``token`` and other :class:`~ingestd_client.IngestClient` options.
    """

    def __init__(
        self,
        client: IngestClient | None = None,
        level: int | str = logging.NOTSET,
        *,
        url: str | None = None,
        token: str | None = None,
        **options: Any,
    ) -> None:
        super().__init__(level)
        self._owns_client = client is None
        self.client: IngestClient = client or cast(
            "IngestClient", make_client(url, token, **options)
        )

    def handle(self, record: logging.LogRecord) -> Any:
        # No handler lock: emit() only appends to a thread-safe deque.
        if self.filters:
            rv: Any = self.filter(record)
            if not rv:
                return rv
            if isinstance(rv, logging.LogRecord):
                record = rv
        try:
            self.client.put_record(record, None)
        except Exception:
            self.handleError(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.client.put_record(record, None)
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        """Does not wait for the network; use ``handler.client.flush()`` for that."""

    def close(self) -> None:
        """Close the handler; a client the handler made itself is flushed and closed."""
        if self._owns_client:
            self.client.close()
        super().close()
