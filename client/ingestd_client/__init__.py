"""ingestd client: send logs and job runs to ingestd without ever hurting the job.

Three lines in a script::

    from ingestd_client import IngestClient
    client = IngestClient()                      # INGESTD_URL, INGESTD_TOKEN
    with client.run("nightly-sync", trigger="cron") as run: ...

or ``ingestd-run --job nightly-sync -- ./sync.sh`` in front of a cron command.
"""

from .aio import AsyncIngestClient
from .batch import ClientStats
from .client import IngestClient
from .config import ClientConfig
from .handler import IngestHandler
from .runs import Run, RunLogger, current_run
from .version import __version__

__all__ = [
    "AsyncIngestClient",
    "ClientConfig",
    "ClientStats",
    "IngestClient",
    "IngestHandler",
    "Run",
    "RunLogger",
    "__version__",
    "current_run",
]
