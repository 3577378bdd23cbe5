"""A loaded index keeps what grows with it in the files it maps (issue 13, bounded memory)."""

from __future__ import annotations

import mmap

import numpy as np

from indexer.build import build_index
from indexer.store import CHAR_MARK_STEP, ReferenceIndex
from tests.conftest import books_corpus

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


def test_a_long_items_passages_are_decoded_alone_and_read_the_same(tmp_path, data_root):
    """Books hold characters of 2 and 3 bytes; a slice read from the byte marks equals the
    slice of the whole decoded text at every passage, at the marks and at the ends."""
    corpus = books_corpus(data_root, ("books_1952-0.txt",))
    text = corpus.items[0].text
    assert len(text.encode("utf-8")) > len(text) > 4 * CHAR_MARK_STEP  # not all ASCII
    build_index(tmp_path / "index", [corpus])
    (books,) = ReferenceIndex.open(tmp_path / "index").corpora
    for passage in range(len(books.passages)):
        _, _, _, start, end = (int(v) for v in books.passages[passage])
        assert books.passage_text(passage) == text[start:end]
    assert books._char_marks  # the marks were used
    step = CHAR_MARK_STEP
    for start, end in [
        (0, len(text)),
        (step - 1, step + 1),
        (step, 2 * step),
        (len(text) - 3, len(text)),
    ]:
        assert books.item_slice(0, start, end) == text[start:end]
