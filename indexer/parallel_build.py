"""Building a corpus's parts on every core, or on Ray, resuming from the parts already finished.

``built_parts`` cuts the corpora into parts (``indexer.build_parts``), skips those a killed
run of the same build left finished beside the target (``indexer.build_work``), and builds the
rest with one executor: in this process, in a process pool (``concurrent.futures``), or on Ray
Data (``indexer.ray_build``). Every executor runs the same ``build_and_save`` and writes each
part to the work folder itself, so the pool and Ray schedule the work and nothing here does;
the index is then merged from the folder, one corpus at a time, in this process.

    >>> engine = BuildEngine(kind=EngineKind.RAY, workers=8)  # doctest: +SKIP
    >>> build_index("my-index", corpora, engine=engine)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from indexer.build_parts import (
    PartTask,
    ProgressFactory,
    StoredPart,
    cut_parts,
    no_progress,
)
from indexer.build_work import BuildEngineError, PartsFolder, build_and_save
from indexer.corpus import Corpus
from indexer.manifest import IndexSettings
from indexer.ray_build import run_on_ray
from indexer.static_embedding import StaticEmbedder
from indexer.worker_lifetime import die_with_parent

log = logging.getLogger(__name__)

# About 2 s of work on one core here (BENCHMARKS.md): small enough that a killed build loses
# little and every core gets several parts, large enough that a part's overhead (one task, one
# file) stays negligible.
DEFAULT_PART_CHARS = 1_000_000


# Less text than this is built in this process when no worker count is given: spawning workers
# (each imports numpy, the tokenizer and wordfreq, and loads the static model) costs seconds.
PARALLEL_MIN_CHARS = 2 * DEFAULT_PART_CHARS


def auto_workers(chars: int) -> int:
    """Every core for at least ``PARALLEL_MIN_CHARS`` of text to build; else one."""
    return (os.cpu_count() or 1) if chars >= PARALLEL_MIN_CHARS else 1


class EngineKind(str, Enum):
    LOCAL = "local"
    RAY = "ray"


@dataclass(frozen=True)
class BuildEngine:
    """Where and how a build's parts are built; none of it changes what the index holds."""

    kind: EngineKind = EngineKind.LOCAL
    # Local: worker processes (default: every core). Ray: actors (default: every CPU of Ray).
    workers: int | None = None
    # An existing Ray cluster; default: start a local Ray for the build. Every Ray worker must
    # see the index's parent folder (a shared file system on a multi-node cluster).
    ray_address: str | None = None
    part_chars: int = DEFAULT_PART_CHARS

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", EngineKind(self.kind))
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers}")


@dataclass
class BuiltParts:
    """Every part of a build, finished in the work folder; ``of`` reads a corpus's back."""

    folder: PartsFolder
    tasks: dict[str, list[PartTask]]
    reused: int
    built: int
    discarded: int

    def of(self, corpus: Corpus) -> list[StoredPart]:
        """The corpus's parts in order, each read from its file only when merged."""
        return [self.folder.stored(task.key) for task in self.tasks[corpus.name]]


# The settings ``build_part`` reads. The vector index's (made by the merge) and the
# transformer's (run by the scanner) do not change a part, so changing them keeps a killed
# build's parts: hours of them at 100x the books.
PART_SETTINGS = ("normalization", "chunking", "ngrams", "terms", "static")


def build_key(settings: IndexSettings, static_checksum: str) -> str:
    """Everything besides its items that decides a part's content."""
    used = {name: value for name, value in settings.to_dict().items() if name in PART_SETTINGS}
    content = json.dumps({"settings": used, "static": static_checksum}, sort_keys=True, default=str)
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


@contextmanager
def built_parts(
    target: Path,
    corpora: Sequence[Corpus],
    settings: IndexSettings,
    static_dir: Path,
    static_checksum: str,
    engine: BuildEngine,
    progress: ProgressFactory = no_progress,
) -> Iterator[BuiltParts]:
    """Build every part not finished yet; the work folder goes when the block ends cleanly.

    On an error or a kill the folder stays, and the same build run again resumes from it.
    """
    folder = PartsFolder.beside(target)
    key = build_key(settings, static_checksum)
    tasks = {c.name: cut_parts(c, engine.part_chars, key) for c in corpora}
    unique = {t.key: t for ts in tasks.values() for t in ts}
    with folder.held():
        discarded = folder.discard_except(unique)
        # Largest first: a long part started last would keep one worker busy after the rest.
        todo = sorted(
            (t for t in unique.values() if not folder.finished(t.key)), key=lambda t: -t.chars
        )
        parts = BuiltParts(folder, tasks, len(unique) - len(todo), len(todo), discarded)
        if discarded:
            log.warning(
                "deleted %d part(s) in %s left by a build with other inputs or settings",
                discarded,
                folder.root,
            )
        if parts.reused:
            log.warning(
                "resuming: %d of %d part(s) were finished by an interrupted build and are "
                "reused; building %d",
                parts.reused,
                len(unique),
                len(todo),
            )
        _run(todo, settings, static_dir, folder, engine, progress)
        yield parts
    folder.remove()


def _run(
    todo: list[PartTask],
    settings: IndexSettings,
    static_dir: Path,
    folder: PartsFolder,
    engine: BuildEngine,
    progress: ProgressFactory,
) -> None:
    if not todo:
        return
    if engine.kind is EngineKind.RAY:
        advance = progress(sum(len(t.items) for t in todo), "parts on Ray", "item")
        run_on_ray(todo, settings, static_dir, folder, engine, advance)
        return
    workers = min(engine.workers or auto_workers(sum(t.chars for t in todo)), len(todo))
    if workers == 1:
        static = StaticEmbedder(static_dir)
        for task in todo:
            build_and_save(task, settings, static, folder, progress)
        return
    _run_pool(todo, settings, static_dir, folder, workers, progress)


def _run_pool(
    todo: list[PartTask],
    settings: IndexSettings,
    static_dir: Path,
    folder: PartsFolder,
    workers: int,
    progress: ProgressFactory,
) -> None:
    advance = progress(sum(len(t.items) for t in todo), f"parts on {workers} workers", "item")
    # Spawned, not forked: tokenizers' and FAISS's threads must not cross a fork.
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(settings, str(static_dir), str(folder.root), os.getpid()),
    )
    try:
        pending = {pool.submit(_build_in_worker, task): task for task in todo}
        while pending:
            done, _ = wait(pending, return_when=FIRST_EXCEPTION)
            for future in done:
                task = pending.pop(future)
                future.result()
                advance(len(task.items))
    except BrokenProcessPool as exc:
        raise BuildEngineError(
            "a build worker process died (killed, out of memory, or the calling script runs "
            'the build outside if __name__ == "__main__":, which spawned workers re-run); '
            f"finished parts are kept in {folder.root}: rerun the build to resume"
        ) from exc
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


_worker: dict[str, Any] = {}


def _start_worker(settings: IndexSettings, static_dir: str, work_dir: str, parent: int) -> None:
    die_with_parent(parent)
    _worker.update(
        settings=settings, static=StaticEmbedder(Path(static_dir)), folder=PartsFolder(work_dir)
    )


def _build_in_worker(task: PartTask) -> str:
    return build_and_save(task, _worker["settings"], _worker["static"], _worker["folder"])
