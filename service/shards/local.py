"""Local executor: one worker process per core, each with its own scanner, taking whole shards.

Workers are spawned (not forked) so that torch and FAISS threads never cross a fork; each loads
the index (and model) once in its initializer. They report progress through a queue, which the
parent turns into one progress bar with records/s and an ETA over the bytes to read.

Workers die with their parent (``indexer.worker_lifetime``): a parent killed outright would
otherwise leave them scanning on, writing staging files nobody will commit while a rerun owns
those shards.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from indexer.readers import Source
from indexer.worker_lifetime import die_with_parent
from service.progress import Rate, byte_bar
from service.shards.layout import OutputLayout
from service.shards.scan_batch import ScannerSpec
from service.shards.task import ShardScanOptions, scan_shard

_worker: dict[str, Any] = {}


@dataclass(frozen=True)
class ShardOutcome:
    """What became of one shard in this run: its done marker, or the error that stopped it."""

    key: str
    marker: dict[str, Any] | None = None
    error: str | None = None


def _start_worker(spec: ScannerSpec, progress: Any, parent: int) -> None:
    die_with_parent(parent)
    _worker.update(queue=progress, parent=parent)
    try:
        _worker["scanner"] = spec.load()
    except Exception as exc:
        # Raised again by every shard this worker takes, so the user sees why, not a dead pool.
        _worker["error"] = exc


def _scan_in_worker(
    shard: Source, layout: OutputLayout, options: ShardScanOptions
) -> dict[str, Any]:
    if "error" in _worker:
        raise _worker["error"]
    progress = _worker["queue"]
    parent = _worker["parent"]
    return scan_shard(
        _worker["scanner"],
        shard,
        layout,
        options,
        progress=lambda nbytes, records: progress.put((nbytes, records)),
        # A worker whose parent was killed must not commit: the rerun owns the shard now.
        still_wanted=lambda: os.getppid() == parent,
    )


def run_local(
    shards: list[Source],
    spec: ScannerSpec,
    layout: OutputLayout,
    options: ShardScanOptions,
    *,
    workers: int | None = None,
    progress: bool = True,
) -> list[ShardOutcome]:
    """Scan ``shards`` on this machine; largest first, so one big shard does not finish last."""
    if not shards:
        return []
    workers = max(1, min(workers or os.cpu_count() or 1, len(shards)))
    context = multiprocessing.get_context("spawn")
    updates = context.Queue()
    sizes = {s.key: s.size() or 0 for s in shards}
    order = sorted(shards, key=lambda s: -sizes[s.key])
    outcomes: list[ShardOutcome] = []
    pool = ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_start_worker,
        initargs=(spec, updates, os.getpid()),
    )
    total = sum(sizes.values())
    with _ProgressBar(total, len(shards), progress) as bar:
        try:
            futures: dict[Future, Source] = {
                pool.submit(_scan_in_worker, shard, layout, options): shard for shard in order
            }
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                bar.drain(updates)
                for future in done:
                    outcomes.append(_outcome(futures[future].key, future))
                    bar.shard_finished()
            bar.drain(updates)
        except BaseException:
            # Ctrl-C or a crash here: start none of the queued shards. Running ones get the
            # Ctrl-C too, and die with this process in any case (die_with_parent).
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    pool.shutdown()
    return outcomes


def _outcome(key: str, future: Future) -> ShardOutcome:
    try:
        return ShardOutcome(key, marker=future.result())
    except Exception as exc:
        return ShardOutcome(key, error=f"{type(exc).__name__}: {exc}")


class _ProgressBar:
    """Input bytes scanned, with records/s and finished shards shown."""

    def __init__(self, total_bytes: int, shards: int, enabled: bool):
        self._bar = byte_bar(total_bytes, "scan-shards", enabled=enabled, leave=True)
        self._shards, self._finished, self._records = shards, 0, Rate()

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.close()

    def drain(self, updates: Any) -> None:
        nbytes = 0
        while True:
            try:
                delta_bytes, delta_records = updates.get_nowait()
            except queue.Empty:
                break
            nbytes += delta_bytes
            self._records.add(delta_records)
        if nbytes:
            self._bar.update(nbytes)
        self._refresh()

    def shard_finished(self) -> None:
        self._finished += 1
        self._refresh()

    def _refresh(self) -> None:
        self._bar.set_postfix_str(
            f"{self._records.per_second:,.0f} records/s, {self._records.count:,} records, "
            f"shards {self._finished}/{self._shards}",
            refresh=False,
        )
