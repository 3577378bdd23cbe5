"""A loaded index keeps what grows with it in the files it maps (issue 13, bounded memory)."""

from __future__ import annotations

import mmap

import numpy as np

from indexer.store import ReferenceIndex

# Every per-posting and per-passage table of a corpus, and its texts.
MAPPED = (
    "ngram_hashes",
    "ngram_passages",
    "term_hashes",
    "term_passages",
    "passages",
    "passage_grams",
    "passage_term_mass",
    "_text_blob",
)


def mapped_file(array: np.ndarray) -> bool:
    """Whether the array's memory is a file mapping (shared with every process that maps the
    file) rather than memory this process allocated."""
    base = array
    while isinstance(base, np.ndarray):
        base = base.base
    return isinstance(base, mmap.mmap)


def test_growing_tables_are_memory_mapped_plain_arrays(small_index):
    index = ReferenceIndex.open(small_index)
    for corpus in index.corpora:
        for name in MAPPED:
            array = getattr(corpus, name)
            if array.size:
                assert mapped_file(array), f"{corpus.name}.{name} was copied into memory"
        # Plain arrays over the mapping: a memmap's slices are memmaps, whose every numpy
        # operation goes through Python (service.verbatim_candidates).
        assert type(corpus.passages) is np.ndarray
        assert not corpus.passages.flags.writeable
