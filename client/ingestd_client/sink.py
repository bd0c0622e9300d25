"""What runs and the logging handler hand their events to: the client, seen from below.

Runs and handlers need four things of a client and nothing else; naming them here keeps
`runs` and `handler` from importing `client` (which imports both), so the package's modules
stay in layers.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Protocol

if TYPE_CHECKING:
    from .runs import Run


class EventSink(Protocol):
    def put_record(self, record: logging.LogRecord, run: Run | None) -> None:
        """Queue a log record, tied to `run` (else the active run)."""

    def put_event(self, item: object) -> None:
        """Queue a run event or a run's state; never dropped for room."""

    def run_opened(self, run: Run) -> None:
        """Start sending the run's heartbeats."""

    def run_closed(self, run: Run) -> None:
        """Stop sending them."""

    def close(self) -> None:
        """Deliver what is queued, within the close budget."""


#: How an IngestHandler made from options (``IngestHandler(url=...)``, as logging's
#: dictConfig builds it) makes the client it owns. Set by `client` on import, which the
#: package's __init__ always does first.
new_client: Callable[..., EventSink] | None = None


def make_client(*args: Any, **options: Any) -> EventSink:
    assert new_client is not None, "ingestd_client.client sets it on import"
    return new_client(*args, **options)
