"""``clearance scan`` on every core: batches go to worker processes as they are read, and their
results come back to be written in input order.

The workers are the shard engine's (``service.shards.local``): spawned, each loading its own
scanner once, dying with their parent. Unlike a shard scan, results travel back to the one
writer, so output order, the progress bar and the reject tally stay those of a one-process
scan; at most ``depth`` batches are in flight, so memory stays bounded however long the input.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import replace
from typing import Any

from service.results import ScanResult
from service.shards.local import die_with_parent
from service.shards.scan_batch import ScannerSpec

_worker: dict[str, Any] = {}

# Input below this many bytes is scanned in this process: starting workers (each loads the
# index, and the transformer for the paraphrase tier) would cost more than it saves.
PARALLEL_MIN_BYTES = 4 << 20


def auto_workers(input_bytes: int | None) -> int:
    """Every core for an input of known size at least ``PARALLEL_MIN_BYTES``; else one."""
    if input_bytes is None or input_bytes < PARALLEL_MIN_BYTES:
        return 1
    return os.cpu_count() or 1


def _start(spec: ScannerSpec, parent: int) -> None:
    die_with_parent(parent)
    try:
        _worker["scanner"] = spec.load()
    except Exception as exc:  # raised again by every batch, so the user sees why
        _worker["error"] = exc


def _scan(texts: list[str], ids: list[str | None]) -> list[ScanResult]:
    if "error" in _worker:
        raise _worker["error"]
    return _worker["scanner"].scan_many(texts, ids=ids)


class ScanPool:
    """Worker processes that each scan whole batches with their own scanner."""

    def __init__(self, spec: ScannerSpec, workers: int):
        # Each worker owns one core: torch must not spread over all of them in every worker.
        spec = replace(spec, settings=replace(spec.settings, threads=1))
        self.workers = workers
        # Enough batches in flight to keep every worker busy while the writer catches up.
        self.depth = 2 * workers
        self._pool = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(spec, os.getpid()),
        )

    def submit(self, texts: list[str], ids: list[str | None]) -> Future[list[ScanResult]]:
        return self._pool.submit(_scan, texts, ids)

    def __enter__(self) -> ScanPool:
        return self

    def __exit__(self, *exc: object) -> None:
        # On an error or Ctrl-C, start none of the queued batches.
        self._pool.shutdown(wait=exc[0] is None, cancel_futures=exc[0] is not None)
