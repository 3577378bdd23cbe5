"""Items taken down from a corpus: a tombstone list in its folder, applied when it loads.

Why a tombstone and not a rewrite of the corpus: a takedown of one work from a corpus of
10,000 novels would otherwise rewrite tens of gigabytes of postings, vectors and text, and a
rewrite of an approximate (IVF) vector index is a new index, not the old one less some rows.
The tombstone costs a line per item and the row numbers of the removed passages' n-gram
postings; the big files keep their bytes and their checksums (the corpus's next folder
hard-links them, ``indexer.index_change``).

It is exact because the scanner masks a removed passage wherever a passage can enter a
result or weigh on another's: verbatim candidates and the stock-phrase count of each gram
(``live_counts``: the gram's postings less the removed ones, so a gram that only the removed
items made common counts as a rebuild would count it), the "held by another item" test, the
rare-term shares, the static candidate search (left out of the exact index's in-memory
buckets, and out of an IVF search by an ID selector, so k live neighbours come back and a
removed item is never the rival in a cosine margin) and the transformer space; near misses
come from those candidates. On an exact (flat) index a scan then finds what a rebuild without
the items finds (``tests/indexer/test_takedown.py`` compares the two).

The removed items' text stays in ``texts.bin``, never read, until the corpus is rebuilt with
``clearance index add --replace`` (which drops it, and the tombstone with it).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexer.checked_folder import CheckedCorpusFolder
from indexer.manifest import CorpusRecord

REMOVED_ITEMS = "removed_items.jsonl"
REMOVED_POSTINGS = "removed_postings.npy"
TOMBSTONE_FILES = (REMOVED_ITEMS, REMOVED_POSTINGS)

# Postings read at a time when the removed rows are found: bounded memory on a big corpus.
_CHUNK = 1 << 24


@dataclass(frozen=True)
class RemovedItem:
    id: str
    removed_at: str


@dataclass(frozen=True)
class Removals:
    """What a corpus's tombstone masks; with nothing removed, every passage is live."""

    items: tuple[RemovedItem, ...]
    # Per passage, whether it is still in the index (None: all are).
    live_passages: np.ndarray | None
    # Sorted row numbers of the n-gram postings that belong to removed passages.
    dead_postings: np.ndarray

    @classmethod
    def nothing(cls) -> Removals:
        return cls((), None, np.empty(0, dtype=np.int64))

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(item.id for item in self.items)

    @functools.cached_property
    def dead_passages(self) -> np.ndarray:
        """Numbers of the removed passages (for a FAISS ID selector)."""
        if self.live_passages is None:
            return np.empty(0, dtype=np.int64)
        return np.flatnonzero(~self.live_passages).astype(np.int64)

    def live(self, passages: np.ndarray) -> np.ndarray:
        """The passages of ``passages`` that are still in the index, in order."""
        if self.live_passages is None:
            return passages
        return passages[self.live_passages[np.asarray(passages, dtype=np.int64)]]

    def live_mask(self, passages: np.ndarray) -> np.ndarray | bool:
        """Per passage of ``passages``, whether it is live (True when nothing was removed)."""
        if self.live_passages is None:
            return True
        return self.live_passages[np.asarray(passages, dtype=np.int64)]

    def live_counts(self, low: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Live postings in each range ``[low, low + count)`` of the postings table."""
        if len(self.dead_postings) == 0:
            return counts
        dead = np.searchsorted(self.dead_postings, low + counts) - np.searchsorted(
            self.dead_postings, low
        )
        return counts - dead


def live_passage_mask(
    ids: Sequence[str], passage_items: np.ndarray, removed: frozenset[str]
) -> np.ndarray:
    """Per passage, whether its item is not among ``removed``."""
    dead_items = np.fromiter((i in removed for i in ids), dtype=bool, count=len(ids))
    return ~dead_items[np.asarray(passage_items, dtype=np.int64)]


def dead_posting_rows(ngram_passages: np.ndarray, live_passages: np.ndarray) -> np.ndarray:
    """Sorted rows of the postings table whose passage is removed: one pass over the table,
    in chunks, at removal time (a load only reads the result)."""
    parts = [
        np.flatnonzero(~live_passages[np.asarray(ngram_passages[start : start + _CHUNK])]) + start
        for start in range(0, len(ngram_passages), _CHUNK)
    ]
    return np.concatenate(parts).astype(np.int64) if parts else np.empty(0, dtype=np.int64)


def write_tombstone(folder: Path, items: Sequence[RemovedItem], dead_postings: np.ndarray) -> None:
    with (folder / REMOVED_ITEMS).open("w", encoding="utf-8") as handle:
        for item in items:
            row = {"id": item.id, "removed_at": item.removed_at}
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    np.save(folder / REMOVED_POSTINGS, np.asarray(dead_postings, dtype=np.int64))


def read_removals(
    folder: CheckedCorpusFolder, record: CorpusRecord, ids: Sequence[str], passages: np.ndarray
) -> Removals:
    """The corpus folder's tombstone, checked against the items and postings it masks."""
    listed = {f.name for f in record.files}
    if not listed & set(TOMBSTONE_FILES):
        folder.require(
            record.removed_items == 0,
            REMOVED_ITEMS,
            f"the manifest counts {record.removed_items} items taken down but lists no tombstone",
        )
        return Removals.nothing()
    rows = folder.jsonl(REMOVED_ITEMS, record.removed_items)
    with folder.reading(REMOVED_ITEMS):
        items = tuple(RemovedItem(str(row["id"]), str(row["removed_at"])) for row in rows)
    removed = frozenset(item.id for item in items)
    folder.require(
        len(removed) == len(items) and removed <= set(ids),
        REMOVED_ITEMS,
        "it lists an id twice or one the corpus does not hold",
    )
    dead = folder.array(REMOVED_POSTINGS, (None,))
    folder.require(
        bool(len(dead) == 0 or (dead[0] >= 0 and dead[-1] < record.ngrams))
        and bool((np.diff(dead) > 0).all()),
        REMOVED_POSTINGS,
        "its rows are not rising rows of the postings table",
    )
    return Removals(items, live_passage_mask(ids, passages[:, 0], removed), dead)
