"""The index folder on disk: one sub-folder per corpus, read back memory-mapped.

Layout (``INDEX_DIR/corpora/<name>/``, or the ``folder`` its manifest record names):

- ``items.jsonl``: ``{"id", "meta"}`` per item, in item order;
- ``texts.bin`` + ``text_offsets.npy``: the items' original texts (UTF-8) and byte offsets;
- ``item_stats.npy``: per item, tokens and rare-term mass of the whole item and of its key
  (the prompt, when the loader marked one), and its stem's length: a match's strength is a
  share of these;
- ``passages.npy``: ``(item, token_start, token_end, char_start, char_end)`` per passage;
- ``ngram_hashes.npy`` / ``ngram_passages.npy``: postings sorted by hash, one row per distinct
  (gram, passage); ``passage_grams.npy``: distinct grams per passage; ``ngram_presence.npy``:
  a bit per hash bucket, set where a posting is (``indexer.presence``; older indexes lack it);
- ``term_hashes.npy`` / ``term_passages.npy``: rare-term postings sorted by hash;
  ``passage_terms.npy``: per passage, its rare-term mass and its length in prose tokens;
- ``static.faiss``: passage vectors from the index's static model (``INDEX_DIR/static_model``),
  row i = passage i: the paraphrase tier's candidate stage. Transformer vectors are not stored:
  they are computed for the few passages that become candidates, when they do;
- ``removed_items.jsonl`` / ``removed_postings.npy``, only after a takedown: the tombstone.

A build writes a folder from its parts (``indexer.part_merge``). The manifest lists every file
of the folder with its size and SHA-256 (``indexer/files.py``):
a load checks sizes and shapes (``indexer/checked_folder.py``), ``clearance index verify`` the
checksums (``indexer/verify.py``).

Every change (add, replace, remove) writes new folders beside the old ones and commits by
renaming the manifest (``indexer.index_change``), so a crash leaves the index it found or the
one it made, never a half-written corpus. Items taken down are listed in the folder's
tombstone and masked at load (``indexer.removals``). Arrays are memory-mapped on load: a
worker process starts in milliseconds and shares pages with its siblings.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from indexer.checked_folder import CheckedCorpusFolder
from indexer.manifest import (
    MANIFEST_NAME,
    REBUILD_HINT,
    CorpusRecord,
    IndexCorruptError,
    IndexManifest,
    IndexMismatchError,
    read_manifest,
)
from indexer.normalize import tokenize
from indexer.presence import FILE_MAX_BITS, PRESENCE_FILE, presence_bits
from indexer.removals import read_removals
from indexer.static_embedding import STATIC_DIR, StaticEmbedder, weights_checksum
from indexer.terms import distinct_mass
from indexer.vector_index import read_vector_index

CORPORA_DIR = "corpora"
STATIC_VECTORS = "static.faiss"
# Items above this many bytes are sliced without decoding them whole (``CorpusIndex.item_slice``).
SLICED_ITEM_BYTES = 8192
# Long items whose continuation-byte table a corpus keeps (most are a few KB: books are mostly
# ASCII).
SHIFT_CACHE_ITEMS = 256
# In a corpus folder that an unfinished change is adding or taking away: the manifest alone
# says whether it is part of the index (``indexer.index_change``).
CHANGE_MARKER = ".change-in-progress"


def posting_ranges(table: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each key, its first row in a sorted postings table and how many rows hold it."""
    low = np.searchsorted(table, keys, side="left")
    # Most keys of a scan are absent: the second search runs on the present ones only.
    present = low < len(table)
    present[present] = table[low[present]] == keys[present]
    counts = np.zeros(len(keys), dtype=np.int64)
    counts[present] = np.searchsorted(table, keys[present], side="right") - low[present]
    return low, counts


def posting_rows(low: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The row numbers of every range ``[low, low + count)``, in order, without a Python loop."""
    firsts = np.cumsum(counts) - counts
    return np.repeat(low - firsts, counts) + np.arange(int(counts.sum()))


def corpus_dir(index_dir: Path, name: str) -> Path:
    return Path(index_dir) / CORPORA_DIR / name


class CorpusIndex:
    """One corpus of a loaded index: ids, texts, passages, postings and vectors."""

    def __init__(self, index_dir: Path, record: CorpusRecord, manifest: IndexManifest):
        self.record = record
        folder = CheckedCorpusFolder(corpus_dir(index_dir, record.folder_name), record)
        items, passages = record.items, record.passages
        rows = folder.jsonl("items.jsonl", items)
        with folder.reading("items.jsonl"):
            self.ids: list[str] = [row["id"] for row in rows]
            self.metas: list[dict[str, Any]] = [row.get("meta", {}) for row in rows]
        self._text_blob = folder.blob("texts.bin")
        self._text_offsets = folder.array("text_offsets.npy", (items + 1,))
        offsets = self._text_offsets
        folder.require(
            offsets[0] == 0
            and offsets[-1] == len(self._text_blob)
            and (np.diff(offsets) >= 0).all(),
            "text_offsets.npy",
            "its offsets do not rise from 0 to the end of texts.bin",
        )
        stats = folder.array("item_stats.npy", (items, 5))
        folder.require(
            bool(np.isfinite(stats).all() and (stats >= 0).all()),
            "item_stats.npy",
            "it holds negative or non-finite counts",
        )
        self.item_tokens = stats[:, 0].astype(np.int64)
        self.item_mass = stats[:, 1]
        self.key_tokens = stats[:, 2].astype(np.int64)
        self.key_mass = stats[:, 3]
        self.stem_tokens = stats[:, 4].astype(np.int64)
        self.settings = manifest.settings
        self._stem_mass: dict[int, float] = {}
        self._shifts: OrderedDict[int, np.ndarray] = OrderedDict()
        self._rows: dict[str, int] | None = None
        # Per-passage tables grow with the index: memory-mapped like the postings, so that
        # every scanner of a machine shares one copy in the page cache (np.asarray: a plain
        # array over the mapping, since a memmap's every operation goes through Python).
        self.passages = np.asarray(folder.array("passages.npy", (passages, 5), mmap=True))
        folder.require(
            bool(((self.passages[:, 0] >= 0) & (self.passages[:, 0] < items)).all()),
            "passages.npy",
            "a passage belongs to no item",
        )
        self.ngram_hashes = folder.array("ngram_hashes.npy", (record.ngrams,), mmap=True)
        self.ngram_passages = folder.array("ngram_passages.npy", (record.ngrams,), mmap=True)
        # None for an index written before the build wrote it: its scanners build their own.
        self.presence_words: np.ndarray | None = None
        if any(f.name == PRESENCE_FILE for f in record.files):
            words = presence_bits(record.ngrams, FILE_MAX_BITS) // 64
            self.presence_words = np.asarray(folder.array(PRESENCE_FILE, (words,), mmap=True))
        self.passage_grams = np.asarray(folder.array("passage_grams.npy", (passages,), mmap=True))
        self.term_hashes = folder.array("term_hashes.npy", (None,), mmap=True)
        self.term_passages = folder.array("term_passages.npy", (len(self.term_hashes),), mmap=True)
        passage_terms = np.asarray(folder.array("passage_terms.npy", (passages, 2), mmap=True))
        self.passage_term_mass = passage_terms[:, 0]
        # The one per-passage copy a load makes: 4 bytes a passage.
        self.passage_prose_tokens = passage_terms[:, 1].astype(np.int32)
        with folder.reading(STATIC_VECTORS) as path:
            self.static_vectors = read_vector_index(path, manifest.settings.vectors)
        vectors, dimension = self.static_vectors.ntotal, self.static_vectors.d
        folder.require(
            (vectors, dimension) == (passages, manifest.static_dimension),
            STATIC_VECTORS,
            f"it holds {vectors} vectors of {dimension} dimensions, "
            f"the manifest {passages} of {manifest.static_dimension}",
        )
        self.removals = read_removals(folder, record, self.ids, self.passages)

    @property
    def name(self) -> str:
        return self.record.name

    def item_text(self, item: int) -> str:
        start, end = int(self._text_offsets[item]), int(self._text_offsets[item + 1])
        return bytes(self._text_blob[start:end]).decode("utf-8")

    def row_of(self, ref_id: str) -> int:
        """The item's row for its id (``KeyError`` if none): results name items by id."""
        if self._rows is None:
            self._rows = {item: i for i, item in enumerate(self.ids)}
        return self._rows[ref_id]

    def passage_item(self, passage: int) -> int:
        return int(self.passages[passage, 0])

    def passage_text(self, passage: int) -> str:
        item, _, _, char_start, char_end = (int(v) for v in self.passages[passage])
        return self.item_slice(item, char_start, char_end)

    def item_slice(self, item: int, char_start: int, char_end: int) -> str:
        """``item_text(item)[char_start:char_end]`` (offsets from 0), decoding only that piece.

        Decoding a whole book for each of its passages a scan reads cost 1-2 ms a passage, and
        an index that holds a work in many editions or copies decodes each of them for a page
        that quotes it. A character's byte offset is its index plus the UTF-8 continuation
        bytes before it; those are found with one numpy pass over the item's bytes, with no
        decoding (``_continuation_shifts``).
        """
        start, end = int(self._text_offsets[item]), int(self._text_offsets[item + 1])
        if end - start <= SLICED_ITEM_BYTES:
            return self.item_text(item)[char_start:char_end]
        if char_end <= char_start:
            return ""
        shifts = self._continuation_shifts(item, start, end)
        first, last = (
            min(end, start + char + int(np.searchsorted(shifts, char, side="right")))
            for char in (char_start, char_end)
        )
        return bytes(self._text_blob[first:last]).decode("utf-8")

    def item_length(self, item: int) -> int:
        """``len(item_text(item))`` without decoding a long item."""
        start, end = int(self._text_offsets[item]), int(self._text_offsets[item + 1])
        if end - start <= SLICED_ITEM_BYTES:
            return len(self.item_text(item))
        return end - start - len(self._continuation_shifts(item, start, end))

    def _continuation_shifts(self, item: int, start: int, end: int) -> np.ndarray:
        """For the item's j-th UTF-8 continuation byte at offset b_j: b_j - j, ascending.

        The character that byte belongs to is number b_j - j - 1 (b_j - j lead bytes come
        before it), so character c starts after exactly the continuation bytes whose value is
        at most c: ``searchsorted(shifts, c, side="right")`` of them.
        """
        shifts = self._shifts.get(item)
        if shifts is None:
            data = np.asarray(self._text_blob[start:end])
            continuation = np.flatnonzero((data & 0xC0) == 0x80)
            shifts = continuation - np.arange(len(continuation))
            self._shifts[item] = shifts
            if len(self._shifts) > SHIFT_CACHE_ITEMS:
                self._shifts.popitem(last=False)
        else:
            self._shifts.move_to_end(item)
        return shifts

    def stem_mass(self, item: int) -> float:
        """Rare-term mass of the item's stem (its question without the options), worked out
        from the stored text on first use: only multiple-choice items that match ask for it."""
        mass = self._stem_mass.get(item)
        if mass is None:
            tokens = tokenize(self.item_text(item), self.record.mode, self.settings.normalization)
            stem = tokens.tokens[: int(self.stem_tokens[item])]
            mass = self._stem_mass[item] = distinct_mass(stem, self.settings.terms)
        return mass

    def grams_elsewhere(self, grams: np.ndarray, item: int) -> np.ndarray:
        """For each gram hash, whether a passage of another item holds it too."""
        grams = np.asarray(grams, dtype=np.uint64)
        low, counts = posting_ranges(self.ngram_hashes, grams)
        rows = posting_rows(low, counts)
        owners = np.asarray(self.ngram_passages[rows], dtype=np.int64)
        other = (self.passages[owners, 0] != item) & self.removals.live_mask(owners)
        owners = np.repeat(np.arange(len(grams)), counts)
        return np.bincount(owners[other], minlength=len(grams)) > 0


def open_static_model(index_dir: Path, manifest: IndexManifest) -> StaticEmbedder:
    """The index's copy of its static model, refused unless it is the one its vectors came from."""
    folder = Path(index_dir) / STATIC_DIR
    if weights_checksum(folder) != manifest.static_checksum:
        raise IndexMismatchError(
            f"{folder}: the static model is not the one the index's vectors were made "
            "with (checksum differs from manifest.json); rebuild the index"
        )
    return StaticEmbedder(folder)


class ReferenceIndex:
    """A whole index folder: its manifest and every corpus in it.

    >>> index = ReferenceIndex.open("demo-index")  # doctest: +SKIP
    >>> [c.name for c in index.corpora]              # doctest: +SKIP
    ['demo-quiz', 'demo-works']
    """

    def __init__(self, path: Path, manifest: IndexManifest, corpora: list[CorpusIndex]):
        self.path = path
        self.manifest = manifest
        self.corpora = corpora
        self._static: StaticEmbedder | None = None

    @property
    def static_embedder(self) -> StaticEmbedder:
        """The static model the passages' candidate vectors came from (loaded on first use)."""
        if self._static is None:
            self._static = open_static_model(self.path, self.manifest)
        return self._static

    @classmethod
    def open(cls, path: Path | str) -> ReferenceIndex:
        path = Path(path)
        manifest = read_manifest(path)
        _refuse_unlisted_corpora(path, manifest)
        corpora = [CorpusIndex(path, record, manifest) for record in manifest.corpora]
        return cls(path, manifest, corpora)

    @property
    def passage_count(self) -> int:
        return sum(len(c.passages) for c in self.corpora)


def unlisted_corpus_folders(index_dir: Path, manifest: IndexManifest) -> list[Path]:
    """Corpus folders the manifest does not list: a manifest cut back by hand or a stray copy.

    Hidden folders are a change's temporary ones (``.name.tmp-PID``), never read; so are
    folders marked ``CHANGE_MARKER``, which a change put there or is taking away.
    """
    root = Path(index_dir) / CORPORA_DIR
    if not root.is_dir():
        return []
    listed = {c.folder_name for c in manifest.corpora}
    return sorted(
        p
        for p in root.iterdir()
        if p.is_dir()
        and not p.name.startswith(".")
        and p.name not in listed
        and not (p / CHANGE_MARKER).exists()
    )


def _refuse_unlisted_corpora(index_dir: Path, manifest: IndexManifest) -> None:
    unlisted = unlisted_corpus_folders(index_dir, manifest)
    if unlisted:
        raise IndexCorruptError(
            f"{unlisted[0]} is not listed in {Path(index_dir) / MANIFEST_NAME}; "
            f"{REBUILD_HINT}, or remove the folder"
        )
