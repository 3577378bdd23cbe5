"""Writing a corpus's folder from its parts, one part in memory at a time.

A part holds the postings, per-passage tables and static vectors of a run of items
(``indexer.build_parts``). The corpus folder is the same bytes as a build in one piece: item
and passage numbers shifted past the parts before, postings sorted by (hash, passage), one
vector index over every passage in passage order; and the n-grams' presence filter
(``indexer.presence``). Joining the parts in memory first peaked at
1.1 GB at 1x the books and 3.1 GB at 3x, and by the fit 99 GB at 100x (BENCHMARKS.md); here the
merge holds one part's arrays, one bucket of postings, the per-passage tables (52 bytes a
passage) and the vector index it fills (its codes: a quarter of the float rows, or less).

Postings are sorted by bucket: each part's postings go, in passage order, to the file of their
hash's top bits, and each bucket is then sorted by hash alone. A stable sort keeps the
passage order within a hash, so the table is the one a lexicographic sort of all of them gives.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import faiss
import numpy as np
from numpy.lib.format import open_memmap

from indexer.corpus import Corpus
from indexer.files import IndexFile, describe_files
from indexer.manifest import IndexSettings
from indexer.presence import FILE_MAX_BITS, PresenceWords, write_presence
from indexer.store import STATIC_VECTORS
from indexer.vector_index import (
    empty_vector_index,
    training_rows,
    vector_index_kind,
    write_vector_index,
)

# About 100 MB of postings a bucket (12 bytes each); 256 buckets at most (one open file each),
# and work files of at most about 2.4 GB at a time (a pass over the parts for each such run).
BUCKET_POSTINGS = 8_000_000
MAX_BUCKET_BITS = 8
WORK_POSTINGS = 200_000_000
_POSTING = np.dtype([("hash", "<u8"), ("passage", "<u4")])
_WORK = ".merge-work"
_POSTINGS_FILES = {
    "gram": ("ngram_hashes", "ngram_passages"),
    "term": ("term_hashes", "term_passages"),
}


class PartSource(Protocol):
    """A part's arrays by name (``indexer.build_parts.PartArrays``' fields), read on demand."""

    def array(self, name: str) -> np.ndarray: ...


@dataclass(frozen=True)
class MergedCorpus:
    """What the manifest records of a corpus written from its parts."""

    passages: int
    tokens: int
    ngrams: int
    vector_index: str
    without_ngrams: int
    gram_lengths: tuple[int, ...]
    files: tuple[IndexFile, ...]


def write_merged_corpus(
    folder: Path, corpus: Corpus, parts: Sequence[PartSource], settings: IndexSettings
) -> MergedCorpus:
    """Write the corpus's files into ``folder`` (new and empty) from its parts, in order."""
    folder = Path(folder)
    _write_items(folder, corpus)
    tables = _PassageTables.of(parts)
    np.save(folder / "item_stats.npy", tables.item_stats)
    np.save(folder / "passages.npy", tables.passages)
    np.save(folder / "passage_grams.npy", tables.gram_counts)
    np.save(folder / "passage_terms.npy", tables.term_stats)
    work = folder / _WORK
    work.mkdir()
    try:
        offsets = tables.passage_offsets
        for kind, counts in (("gram", tables.gram_counts), ("term", tables.term_counts)):
            _write_postings(folder, work, parts, offsets, kind, int(counts.sum()))
        index = _filled_vector_index(parts, tables.passage_offsets, settings)
        write_vector_index(index, folder / STATIC_VECTORS)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return MergedCorpus(
        passages=len(tables.passages),
        tokens=int(tables.item_stats[:, 0].astype(np.int64).sum()),
        ngrams=int(tables.gram_counts.sum()),
        vector_index=vector_index_kind(index),
        without_ngrams=tables.without_ngrams,
        gram_lengths=tables.gram_lengths,
        files=describe_files(folder),
    )


def _write_items(folder: Path, corpus: Corpus) -> None:
    with (folder / "items.jsonl").open("w", encoding="utf-8") as handle:
        for item in corpus.items:
            row = {"id": item.id, "meta": dict(item.meta)}
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    offsets = [0]
    with (folder / "texts.bin").open("wb") as handle:
        for item in corpus.items:
            data = item.text.encode("utf-8")
            handle.write(data)
            offsets.append(offsets[-1] + len(data))
    np.save(folder / "text_offsets.npy", np.asarray(offsets, dtype=np.int64))


@dataclass
class _PassageTables:
    """The per-item and per-passage tables of every part, joined, numbers shifted."""

    item_stats: np.ndarray
    passages: np.ndarray
    gram_counts: np.ndarray
    term_counts: np.ndarray
    term_stats: np.ndarray
    passage_offsets: np.ndarray  # passage number of each part's first passage, and the total
    without_ngrams: int
    gram_lengths: tuple[int, ...]

    @classmethod
    def of(cls, parts: Sequence[PartSource]) -> _PassageTables:
        stats, passages, grams, terms, term_stats = [], [], [], [], []
        items = without_ngrams = 0
        gram_lengths: set[int] = set()
        for part in parts:
            without_ngrams += int(part.array("without_ngrams"))
            gram_lengths.update(int(n) for n in part.array("gram_lengths"))
            part_passages = part.array("passages")
            passages.append(part_passages + np.array([items, 0, 0, 0, 0], dtype=np.int64))
            part_stats = part.array("item_stats")
            items += len(part_stats)
            stats.append(part_stats)
            grams.append(part.array("gram_counts"))
            terms.append(part.array("term_counts"))
            term_stats.append(part.array("term_stats"))
        return cls(
            item_stats=_joined(stats, (0, 5), np.float32),
            passages=_joined(passages, (0, 5), np.int64),
            gram_counts=_joined(grams, (0,), np.int32),
            term_counts=_joined(terms, (0,), np.int32),
            term_stats=_joined(term_stats, (0, 2), np.float32),
            passage_offsets=np.cumsum([0] + [len(p) for p in passages]),
            without_ngrams=without_ngrams,
            gram_lengths=tuple(sorted(gram_lengths)),
        )


def _joined(arrays: list[np.ndarray], empty: tuple[int, ...], dtype) -> np.ndarray:
    return np.concatenate(arrays).astype(dtype) if arrays else np.empty(empty, dtype=dtype)


def _write_postings(
    folder: Path,
    work: Path,
    parts: Sequence[PartSource],
    passage_offsets: np.ndarray,
    kind: str,
    total: int,
) -> None:
    """Write one postings table (``kind``: gram or term) sorted by (hash, passage).

    Buckets are filled and sorted a run at a time, so the work files never hold more than
    about ``WORK_POSTINGS`` postings: a pass over the parts per run of buckets.
    """
    hashes_file, passages_file = _POSTINGS_FILES[kind]
    bits = bucket_bits(total)
    buckets = 1 << bits
    per_run = max(1, WORK_POSTINGS // max(1, math.ceil(total / buckets)))
    hashes_out = open_memmap(folder / f"{hashes_file}.npy", "w+", np.uint64, (total,))
    owners_out = open_memmap(folder / f"{passages_file}.npy", "w+", np.uint32, (total,))
    presence = PresenceWords(total, FILE_MAX_BITS) if kind == "gram" else None
    at = 0
    for first_bucket in range(0, buckets, per_run):
        run = range(first_bucket, min(buckets, first_bucket + per_run))
        for path in _filled_buckets(work, parts, passage_offsets, kind, bits, run):
            postings = np.fromfile(path, dtype=_POSTING)
            path.unlink()
            order = np.argsort(postings["hash"], kind="stable")
            hashes_out[at : at + len(order)] = postings["hash"][order]
            owners_out[at : at + len(order)] = postings["passage"][order]
            if presence is not None:
                presence.add(postings["hash"])
            at += len(order)
    assert at == total, f"{kind} postings: {at} written, the parts hold {total}"
    hashes_out.flush()
    owners_out.flush()
    del hashes_out, owners_out
    if presence is not None:
        write_presence(folder, presence)


def bucket_bits(postings: int) -> int:
    """How many top bits of a hash pick its bucket: about ``BUCKET_POSTINGS`` a bucket."""
    if postings <= BUCKET_POSTINGS:
        return 0
    return min(MAX_BUCKET_BITS, math.ceil(math.log2(postings / BUCKET_POSTINGS)))


def _filled_buckets(
    work: Path,
    parts: Sequence[PartSource],
    passage_offsets: np.ndarray,
    kind: str,
    bits: int,
    run: range,
) -> list[Path]:
    """One pass over the parts: the postings of buckets ``run`` appended to a file each, in
    passage order (a part's postings come passage after passage, and the parts in order)."""
    paths = [work / f"{kind}-{bucket}.bin" for bucket in run]
    handles = [path.open("wb") for path in paths]
    try:
        for part, first in zip(parts, passage_offsets, strict=False):
            hashes = part.array(f"{kind}_hashes").astype(np.uint64, copy=False)
            counts = part.array(f"{kind}_counts")
            owners = np.repeat(np.arange(len(counts), dtype=np.uint32) + np.uint32(first), counts)
            _scatter(hashes, owners, bits, run, handles)
    finally:
        for handle in handles:
            handle.close()
    return paths


def _scatter(hashes: np.ndarray, owners: np.ndarray, bits: int, run: range, handles: list) -> None:
    """Append the postings of buckets ``run`` to their files, keeping their order."""
    if bits == 0:
        _records(hashes, owners).tofile(handles[0])
        return
    top = (hashes >> np.uint64(64 - bits)).astype(np.uint16)
    order = np.argsort(top, kind="stable")
    bounds = np.searchsorted(top[order], np.arange(run.start, run.stop + 1), side="left")
    for number, handle in enumerate(handles):
        start, end = bounds[number], bounds[number + 1]
        if end > start:
            chosen = order[start:end]
            _records(hashes[chosen], owners[chosen]).tofile(handle)


def _records(hashes: np.ndarray, owners: np.ndarray) -> np.ndarray:
    records = np.empty(len(hashes), dtype=_POSTING)
    records["hash"] = hashes
    records["passage"] = owners
    return records


def _filled_vector_index(
    parts: Sequence[PartSource], passage_offsets: np.ndarray, settings: IndexSettings
) -> faiss.Index:
    """The vector index over every part's vectors: trained on a sample gathered part by part
    (the rows a one-piece build trains on, in its order), then filled one part after another."""
    total = int(passage_offsets[-1])
    dimension = parts[0].array("vectors").shape[1]
    index = empty_vector_index(total, dimension, settings.vectors)
    if not index.is_trained:
        rows = training_rows(total, settings.vectors)
        index.train(_gathered(parts, passage_offsets, rows, dimension))
    for part in parts:
        index.add(np.ascontiguousarray(part.array("vectors"), dtype=np.float32))
    return index


def _gathered(
    parts: Sequence[PartSource], passage_offsets: np.ndarray, rows: np.ndarray, dimension: int
) -> np.ndarray:
    order = np.argsort(rows, kind="stable")
    bounds = np.searchsorted(rows[order], passage_offsets)
    sample = np.empty((len(rows), dimension), dtype=np.float32)
    for number, part in enumerate(parts):
        wanted = order[bounds[number] : bounds[number + 1]]
        if len(wanted):
            sample[wanted] = part.array("vectors")[rows[wanted] - passage_offsets[number]]
    return sample
