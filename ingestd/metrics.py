"""GET /metrics in the Prometheus text format, through prometheus-client.

The counters are read from the objects that keep them (ingest, queue, writer) when
Prometheus scrapes, so the per-event hot path pays nothing for them. Every event is
accounted for: accepted + recovered = committed + dead-lettered + dropped + pending, where
"committed" includes events found already stored (duplicates, also counted apart) and
"recovered" are events a previous process left in the spool.
"""

from __future__ import annotations

from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ingestd.ingest.service import INGEST
from ingestd.ingest.writer import WRITER
from ingestd.read.tail import TAIL

routes = web.RouteTableDef()

BATCH_SIZES = (1, 10, 100, 500, 1000, 2500, 5000, 10000, 25000)
FLUSH_SECONDS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class _EventAccounts(Collector):
    def __init__(self, app: web.Application) -> None:
        self.app = app

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        if INGEST not in self.app or WRITER not in self.app:
            return
        ingest, stats = self.app[INGEST], self.app[WRITER].stats
        queue = ingest.queue
        committed = stats.committed + stats.duplicates
        kept_out = stats.dead_lettered + stats.dropped
        pending = ingest.accepted + queue.recovered_events - committed - kept_out
        counters = {
            "ingestd_events_accepted": ("Events accepted (answered 202/200).", ingest.accepted),
            "ingestd_events_rejected": ("Events rejected as invalid.", ingest.rejected),
            "ingestd_events_rate_limited": (
                "Events refused with 429 (client over its rate).",
                ingest.rate_limited,
            ),
            "ingestd_events_recovered": (
                "Events read back from a spool an earlier process left.",
                queue.recovered_events,
            ),
            "ingestd_events_committed": (
                "Events committed to PostgreSQL, or found already there.",
                committed,
            ),
            "ingestd_events_duplicate": (
                "Of the committed, events found already stored (event_id, retries).",
                stats.duplicates,
            ),
            "ingestd_events_dead_lettered": (
                "Events the database refused, kept in dead_letters.",
                stats.dead_lettered,
            ),
            "ingestd_events_dropped": (
                "Events the database refused, and dead_letters too: logged, not kept.",
                stats.dropped,
            ),
            "ingestd_db_errors": ("Failed database writes (each retried).", stats.db_errors),
            "ingestd_batches": ("Batches committed.", stats.batches),
            "ingestd_batches_staged": (
                "Batches whose COPY overlapped the batch before (INGESTD_WRITER_CONNECTIONS).",
                stats.staged,
            ),
            "ingestd_batches_unstaged": (
                "Staged batches rolled back and written again in turn.",
                stats.unstaged,
            ),
        }
        for name, (text, value) in counters.items():
            yield CounterMetricFamily(name, text, value=value)
        gauges = {
            "ingestd_events_pending": ("Accepted events not committed yet.", pending),
            "ingestd_queue_events": ("Events held in memory.", queue.held_events),
            "ingestd_queue_bytes": ("Bytes held in memory (estimated).", queue.held_bytes),
            "ingestd_spool_bytes": (
                "Bytes in the disk spool.",
                queue.spool.size_bytes if queue.spool is not None else 0,
            ),
            "ingestd_spool_spilled": ("1 while new events go to the spool.", int(queue.spilled)),
            "ingestd_db_failing": (
                "1 while database writes fail.",
                int(self.app[WRITER].failing is not None),
            ),
        }
        for name, (text, value) in gauges.items():
            yield GaugeMetricFamily(name, text, value=value)
        if TAIL in self.app:
            yield from _tail_metrics(self.app)


def _tail_metrics(app: web.Application) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
    tail = app[TAIL].stats
    yield GaugeMetricFamily("ingestd_tail_streams", "Open GET /v1/tail streams.", tail.subscribers)
    counters = {
        "ingestd_tail_refused": ("Tail streams refused with 503 (too many open).", tail.refused),
        "ingestd_tail_cut_off": ("Tail streams cut off as too slow.", tail.cut_off),
        "ingestd_tail_dropped_lines": ("Lines cut-off streams did not get.", tail.dropped_rows),
    }
    for name, (text, value) in counters.items():
        yield CounterMetricFamily(name, text, value=value)


class Metrics:
    """One registry per application (tests run several in one process)."""

    def __init__(self, app: web.Application) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_EventAccounts(app))
        self.batch_size = Histogram(
            "ingestd_batch_events",
            "Events per committed batch.",
            buckets=BATCH_SIZES,
            registry=self.registry,
        )
        self.flush_seconds = Histogram(
            "ingestd_batch_seconds",
            "Time to commit one batch, retries included.",
            buckets=FLUSH_SECONDS,
            registry=self.registry,
        )

    def observe_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.flush_seconds.observe(seconds)


METRICS = web.AppKey("metrics", Metrics)


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4"})
