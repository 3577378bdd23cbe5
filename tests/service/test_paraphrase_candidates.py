"""The candidate stage's search of a large (IVF) corpus: windows no passage fits are not
searched, and what comes back is what searching every window gives (real books, real static
model, real FAISS IVF index)."""

from __future__ import annotations

import numpy as np
import pytest

from indexer.build import build_index
from indexer.manifest import IndexSettings
from indexer.store import ReferenceIndex
from indexer.vector_index import VectorSettings, flat_rows, is_exact
from service.document import Document
from service.paraphrase import ParaphraseSettings
from service.paraphrase_candidates import (
    StaticSpace,
    document_windows,
    fitting_sizes,
)
from tests.conftest import books_corpus


@pytest.fixture(scope="module")
def books_ivf(tmp_path_factory, data_root) -> ReferenceIndex:
    folder = tmp_path_factory.mktemp("books-ivf") / "index"
    corpus = books_corpus(data_root, ("books_1952-0.txt", "books_11-0.txt"))
    build_index(folder, [corpus], settings=IndexSettings(vectors=VectorSettings(exact_max=100)))
    return ReferenceIndex.open(folder)


def test_windows_no_passage_fits_are_skipped_and_nothing_else_changes(books_ivf, web_docs):
    settings = ParaphraseSettings()
    space = StaticSpace(books_ivf, settings.min_static_cosine, settings.window_sizes)
    (corpus,) = books_ivf.corpora
    assert not is_exact(corpus.static_vectors)
    # Book passages are 96 tokens (the last of a book may be shorter): small windows fit none.
    fitting = fitting_sizes(corpus, settings.window_sizes)
    assert 16 not in fitting and 128 in fitting
    book = corpus.item_text(0)
    texts = [
        web_docs[3][:800] + "\n\n" + book[20_000:21_500] + "\n\n" + web_docs[3][800:1600],
        web_docs[9],
    ]
    docs = [Document(t, books_ivf.manifest.settings, str(n)) for n, t in enumerate(texts)]
    windows = [
        w for n, d in enumerate(docs) for w in document_windows(n, d, settings.window_sizes, [])
    ]
    vectors = space.window_vectors(docs, windows)
    sizes = np.asarray([w.size for w in windows])
    assert np.isin(sizes, fitting).mean() < 0.5  # most windows are not searched
    skipped = space.neighbours(corpus, vectors, sizes, settings.top_k)
    every = space.searched_neighbours(corpus, vectors, sizes, settings.top_k)
    for got, want in zip(skipped, every, strict=True):
        assert np.array_equal(got, want)
    assert len(skipped[0]) > 0 and set(sizes[skipped[0]]) <= set(fitting)


def test_flat_corpora_are_rescored_from_their_mapped_rows_not_a_copy(small_index):
    """The exact corpora's buckets hold coarse vectors and passage numbers; the full vectors
    they are rescored on are the mapped index's own rows."""
    index = ReferenceIndex.open(small_index)
    for corpus in index.corpora:
        assert is_exact(corpus.static_vectors)
        rows = flat_rows(corpus.static_vectors)
        assert not rows.flags.owndata
        whole = corpus.static_vectors.reconstruct_n(0, corpus.static_vectors.ntotal)
        assert np.array_equal(rows, whole)
