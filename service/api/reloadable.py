"""The scanner a server holds, replaced whole when its index is rebuilt.

A reload loads and warms a complete new ``Scanner`` off the event loop, then swaps one
reference. A request takes the current ``LoadedScanner`` once, at its start, and uses only that
object: a request in flight during a swap finishes on the old index, and the old index is freed
when the last such request lets go of it.

Scanner caches are not thread-safe, so each loaded scanner owns a one-thread executor: its
queue serializes scans and, unlike a lock, lets a request that times out leave the line (its
pending future is cancelled). Waiting happens on the event loop, which stays free for
``/healthz`` while a big batch runs.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import anyio

from service.allowlist import load_allowlist
from service.api.errors import NotReadyError, ReloadFailedError, ScanTimeoutError
from service.api.metrics import ApiMetrics
from service.api.settings import ApiSettings
from service.results import ScanResult
from service.scanner import Scanner

log = logging.getLogger(__name__)

# Enough reference text to touch every corpus's arrays and run each tier once.
WARMUP_CHARS_PER_CORPUS = 2000


@dataclass(frozen=True)
class LoadedScanner:
    scanner: Scanner
    generation: int
    loaded_at: datetime
    load_seconds: float
    executor: ThreadPoolExecutor = field(repr=False)
    metrics: ApiMetrics = field(repr=False)

    async def scan_many(
        self, texts: Sequence[str], ids: Sequence[str | None], timeout: float
    ) -> list[ScanResult]:
        """Scan on this scanner's thread; ``ScanTimeoutError`` after ``timeout`` s in all."""
        future = self.executor.submit(self.scanner.scan_many, list(texts), ids=list(ids))
        self.metrics.scanning.inc(len(texts))
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except TimeoutError:
            # A scan already running cannot be interrupted; it finishes and its result is
            # dropped. A queued one is cancelled by wait_for and never starts.
            raise ScanTimeoutError(
                f"the scan did not finish within {timeout:g} s (CLEARANCE_REQUEST_TIMEOUT_S); "
                "send smaller batches or retry later"
            ) from None
        finally:
            self.metrics.scanning.dec(len(texts))


class ReloadableScanner:
    """Holds the serving ``LoadedScanner`` and replaces it on ``load()``."""

    def __init__(self, settings: ApiSettings, metrics: ApiMetrics):
        self.settings = settings
        self.metrics = metrics
        self._current: LoadedScanner | None = None
        self._error: str | None = None
        self._generation = 0
        self._lock = asyncio.Lock()

    @property
    def status(self) -> Literal["loading", "ready", "failed"]:
        if self._current is not None:
            return "ready"
        return "failed" if self._error is not None else "loading"

    @property
    def error(self) -> str | None:
        return self._error

    def current(self) -> LoadedScanner:
        loaded = self._current
        if loaded is None:
            if self._error is not None:
                raise NotReadyError(f"the index could not be loaded: {self._error}")
            raise NotReadyError("the index is still loading; retry when /readyz says ready")
        return loaded

    async def load(self) -> tuple[LoadedScanner, LoadedScanner | None]:
        """Load the configured index afresh and swap it in; returns (new, previous).

        Raises ``ReloadFailedError`` and keeps serving the previous index if loading fails.
        Concurrent calls run one after the other.
        """
        async with self._lock:
            generation = self._generation + 1
            try:
                # Shielded: a client hanging up must not waste a load that is half done.
                with anyio.CancelScope(shield=True):
                    loaded = await anyio.to_thread.run_sync(self._load_blocking, generation)
            except Exception as exc:
                message = f"{type(exc).__name__}: {exc}"
                self.metrics.reloads.labels("failed").inc()
                if self._current is None:
                    self._error = message
                log.error(
                    "index load failed", extra={"index": str(self.settings.index), "error": message}
                )
                serving = (
                    f"; still serving generation {self._current.generation}"
                    if self._current is not None
                    else ""
                )
                raise ReloadFailedError(
                    f"could not load {self.settings.index}: {message}{serving}"
                ) from exc
            previous = self._current
            self._current = loaded  # the swap: new requests see the new scanner from here on
            settle_heap()
            self._generation = generation
            self._error = None
            self.metrics.reloads.labels("ok").inc()
            self.metrics.observe_index(loaded)
            log.info(
                "index loaded",
                extra={
                    "index": str(self.settings.index),
                    "generation": generation,
                    "load_seconds": round(loaded.load_seconds, 3),
                    "corpora": [c.name for c in loaded.scanner.index.manifest.corpora],
                    "tiers": list(self.settings.tiers),
                },
            )
            return loaded, previous

    def _load_blocking(self, generation: int) -> LoadedScanner:
        started = time.perf_counter()
        scanner = Scanner.load(
            self.settings.index,
            policy=self.settings.scan_policy(),
            settings=self.settings.scan_settings(),
            allowlist=load_allowlist(self.settings.allowlist),
        )
        if self.settings.warmup:
            scanner.scan_many([warmup_text(scanner), ""])
        return LoadedScanner(
            scanner=scanner,
            generation=generation,
            loaded_at=datetime.now(UTC),
            load_seconds=time.perf_counter() - started,
            executor=ThreadPoolExecutor(1, thread_name_prefix=f"scanner-g{generation}"),
            metrics=self.metrics,
        )


def settle_heap() -> None:
    """Move what is alive now (the loaded scanner, its caches after warm-up, the app) out of
    the collector's sight.

    Python's full collection walks every tracked object, and a loaded scanner holds about
    160,000 of them: each one took 75-110 ms, a pause a request waiting behind it pays in
    full (the slowest 2 KB requests of ``benchmarks/api_load.py``). Frozen objects are still
    freed when nothing refers to them; only cycles among them wait, until the next reload
    unfreezes them (the previous scanner's included) and collects before freezing again.

    What the caches add while serving is frozen the same way after each full collection
    (``_freeze_survivors``).
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    if _freeze_survivors not in gc.callbacks:
        gc.callbacks.append(_freeze_survivors)


def _freeze_survivors(phase: str, info: dict[str, int]) -> None:
    """After a full collection, freeze what survived it: all of it is alive, and the next full
    collection walks only what came after.

    A cold server's passage caches grow while it serves: 43,000 new tracked objects over its
    first 1,000 distinct 2 KB pages. Full collections walked all of them again each time, four
    times in those pages, 12, 22, 38 and 36 ms, and freed nothing; each such page was among the
    six slowest. With the survivors frozen, the same four took 12, 8, 7 and 3 ms.
    """
    if phase == "stop" and info["generation"] == 2:  # the oldest generation: a full collection
        gc.freeze()


def warmup_text(scanner: Scanner) -> str:
    """The start of each corpus's first item still in it: a document every tier has work to
    do on (an item taken down would find nothing)."""
    parts = []
    for corpus in scanner.index.corpora:
        removed = corpus.removals.ids
        first = next((n for n, item in enumerate(corpus.ids) if item not in removed), None)
        if first is not None:
            parts.append(corpus.item_text(first)[:WARMUP_CHARS_PER_CORPUS])
    return "\n\n".join(parts) or "warm-up"
