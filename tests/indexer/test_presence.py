"""The n-gram presence filter: written by the build and mapped, or built by a scanner of an
index written without it (real small index)."""

from __future__ import annotations

import numpy as np

import indexer.presence as presence
from indexer.presence import PresenceFilter
from indexer.store import ReferenceIndex


def test_presence_filter_written_by_the_build_holds_every_posting(small_index, monkeypatch):
    """The build's filter (mapped) and one built here a chunk at a time (an index without the
    file; bounded memory) both pass every posting, and let through few random hashes."""
    corpus = max(ReferenceIndex.open(small_index).corpora, key=lambda c: len(c.ngram_hashes))
    table = corpus.ngram_hashes
    assert isinstance(corpus.presence_words, np.ndarray)
    assert not corpus.presence_words.flags.owndata  # a view of the file's mapping
    written = PresenceFilter(corpus.presence_words)
    whole = PresenceFilter.from_postings(table)
    monkeypatch.setattr(presence, "CHUNK", 997)
    chunked = PresenceFilter.from_postings(table)
    assert len(table) > 10 * 997
    for bits in (written, whole, chunked):
        assert bits.may_hold(np.asarray(table)).all()
    probes = np.random.default_rng(0).integers(0, 2**63, size=20_000, dtype=np.uint64)
    assert (chunked.may_hold(probes) == whole.may_hold(probes)).all()
    assert (written.may_hold(probes) == whole.may_hold(probes)).all()  # same size below caps
    assert written.may_hold(probes).mean() < 0.1
