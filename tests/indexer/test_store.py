"""A loaded index keeps what grows with it in the files it maps (issue 13, bounded memory)."""

from __future__ import annotations

import mmap
import random

import numpy as np

from indexer.build import build_index
from indexer.corpus import Corpus, CorpusKind, ReferenceItem
from indexer.store import SLICED_ITEM_BYTES, ReferenceIndex
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
    """Books hold characters of 2 and 3 bytes; a slice read from the continuation-byte table
    equals the slice of the whole decoded text at every passage, around every multi-byte
    character and at the ends."""
    corpus = books_corpus(data_root, ("books_1952-0.txt",))
    text = corpus.items[0].text
    assert len(text.encode("utf-8")) > len(text) > 3 * SLICED_ITEM_BYTES  # not all ASCII
    build_index(tmp_path / "index", [corpus])
    (books,) = ReferenceIndex.open(tmp_path / "index").corpora
    for passage in range(len(books.passages)):
        _, _, _, start, end = (int(v) for v in books.passages[passage])
        assert books.passage_text(passage) == text[start:end]
    assert books._shifts  # the long item was sliced, not decoded whole
    assert books.item_length(0) == len(text)
    wide = [at for at, char in enumerate(text) if ord(char) > 127]
    assert len(wide) > 10
    edges = [
        (at + step, at + step + width) for at in wide for step in (-1, 0, 1) for width in (1, 5)
    ]
    for start, end in [(0, len(text)), (len(text) - 3, len(text)), (5, 5), (9, 3), *edges]:
        assert books.item_slice(0, start, end) == text[start:end], (start, end)
    assert books.item_slice(0, len(text) - 2, len(text) + 40) == text[len(text) - 2 :]


def test_slices_of_an_item_with_characters_of_every_utf8_width(tmp_path, data_root):
    """A real book's text with 2-, 3- and 4-byte characters (accents, CJK, emoji) written in
    at random places: every slice equals the decoded text's, whatever width surrounds it."""
    book = books_corpus(data_root, ("books_1952-0.txt",)).items[0]
    rng = random.Random(7)
    pieces = list(book.text[:40_000])
    for at in sorted(rng.sample(range(len(pieces)), 600)):
        pieces[at] = rng.choice(["é", "ß", "中", "文", "😀", "𝄞", "€"])
    text = "".join(pieces)
    corpus = Corpus("mixed", CorpusKind.COPYRIGHT, [ReferenceItem("mixed-1", text)])
    build_index(tmp_path / "index", [corpus])
    (mixed,) = ReferenceIndex.open(tmp_path / "index").corpora
    assert mixed.item_length(0) == len(text) == len(mixed.item_text(0))
    for _ in range(2000):
        start = rng.randrange(len(text) + 2)
        end = start + rng.randrange(0, 300)
        assert mixed.item_slice(0, start, end) == text[start:end], (start, end)
