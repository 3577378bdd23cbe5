"""Prometheus metrics of one server, in a registry of its own.

A registry per app (not the global one) keeps two apps in one process, as in tests, from
sharing counters. Labels come from closed sets: route templates (never raw paths) and the
standard HTTP methods (anything else is ``OTHER``), so no request, authenticated or not, can add
series: a scanner of random URLs or made-up verbs once added 19 per request.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from service.results import ScanResult

if TYPE_CHECKING:
    from service.api.reloadable import LoadedScanner

__all__ = ["CONTENT_TYPE", "ApiMetrics"]

# From a 2 KB verbatim scan (a few ms) to a large batch with the paraphrase tier (tens of s).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

# RFC 9110's methods and PATCH: the only method labels. The server answers any other verb
# (with 405 or 404), so its name comes from the client and must not become a label value.
KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "clearance_http_requests",
            "HTTP requests answered.",
            ["endpoint", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "clearance_http_request_duration_seconds",
            "Time to answer an HTTP request.",
            ["endpoint", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_progress = Gauge(
            "clearance_http_requests_in_progress", "HTTP requests being answered now.", registry=r
        )
        self.documents = Counter("clearance_documents_scanned", "Documents scanned.", registry=r)
        self.scanning = Gauge(
            "clearance_scan_documents_in_progress",
            "Documents handed to the scanner and not yet answered (queued or running).",
            registry=r,
        )
        self.rejected = Counter(
            "clearance_documents_rejected",
            "Batch documents rejected without a scan.",
            ["code"],
            registry=r,
        )
        self.decisions = Counter(
            "clearance_decisions",
            "Documents by decision, labelled with the corpus kind of their strongest match "
            "(`none` when nothing matched).",
            ["kind", "decision"],
            registry=r,
        )
        self.ready = Gauge("clearance_ready", "1 when an index is loaded and warm.", registry=r)
        self.index_generation = Gauge(
            "clearance_index_generation", "Loads of the index since start (1 = first).", registry=r
        )
        self.index_loaded = Gauge(
            "clearance_index_loaded_timestamp_seconds",
            "When the serving index was loaded.",
            registry=r,
        )
        self.index_items = Gauge(
            "clearance_index_items",
            "Reference items in the serving index.",
            ["corpus", "kind"],
            registry=r,
        )
        self.index_passages = Gauge(
            "clearance_index_passages",
            "Reference passages in the serving index.",
            ["corpus", "kind"],
            registry=r,
        )
        self.reloads = Counter(
            "clearance_index_reloads", "Index loads by outcome.", ["outcome"], registry=r
        )

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request; ``endpoint`` must be a route template, not a path."""
        labels = (endpoint, method_label(method), str(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)

    def observe_results(self, results: Iterable[ScanResult]) -> None:
        for result in results:
            self.documents.inc()
            kind = max(result.matches, key=lambda m: m.risk).kind if result.matches else "none"
            self.decisions.labels(kind, result.decision.value).inc()

    def observe_index(self, loaded: LoadedScanner) -> None:
        manifest = loaded.scanner.index.manifest
        self.index_items.clear()
        self.index_passages.clear()
        for corpus in manifest.corpora:
            self.index_items.labels(corpus.name, corpus.kind.value).set(corpus.items)
            self.index_passages.labels(corpus.name, corpus.kind.value).set(corpus.passages)
        self.index_generation.set(loaded.generation)
        self.index_loaded.set(loaded.loaded_at.timestamp())
        self.ready.set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def method_label(method: str) -> str:
    """The request's method as a label: a standard one as is, any other as ``OTHER``.

    >>> method_label("POST"), method_label("XK7Q")
    ('POST', 'OTHER')
    """
    return method if method in KNOWN_METHODS else "OTHER"
