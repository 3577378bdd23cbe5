from __future__ import annotations

import random

import faiss
import numpy as np
import pytest

from indexer.build import build_index
from indexer.manifest import IndexSettings
from indexer.store import ReferenceIndex
from indexer.vector_index import (
    VectorSettings,
    build_vector_index,
    empty_vector_index,
    read_vector_index,
    search,
    training_rows,
    vector_index_kind,
    write_vector_index,
)
from reference_corpora import transforms as T
from reference_corpora.suite import hide
from service.paraphrase import ParaphraseSettings
from service.scanner import Scanner, ScanSettings
from tests.conftest import catalog_corpus


def _unit(rows: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(rows, 64)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_small_indexes_are_exact():
    index = build_vector_index(_unit(100, 0), VectorSettings(exact_max=1000))
    assert isinstance(index, faiss.IndexFlatIP) and vector_index_kind(index) == "flat-ip"


@pytest.mark.parametrize(
    ("settings", "kind", "share_of_float"),
    [
        (VectorSettings(exact_max=1000), "ivf-sq8(nlist=178,nprobe=16)", 0.4),
        (
            VectorSettings(exact_max=1000, pq_min=1500, pq_bytes=8),
            "ivf-pq(nlist=178,nprobe=16,bytes=8,rescore=sq8x16)",
            0.6,
        ),
        (
            VectorSettings(exact_max=1000, pq_min=1500, pq_bytes=8, pq_fast_scan=True),
            "ivf-pq(nlist=178,nprobe=16,bytes=8,fast-scan,rescore=sq8x16)",
            0.6,
        ),
    ],
)
def test_large_indexes_are_compressed_ivf_and_still_find_near_duplicates(
    tmp_path, settings, kind, share_of_float
):
    vectors = _unit(2000, 1)
    index = build_vector_index(vectors, settings)
    assert vector_index_kind(index) == kind and index.ntotal == 2000
    path = tmp_path / "v.faiss"
    write_vector_index(index, path)
    # Codes, not float rows (a quarter, or PQ codes and 8-bit ones to rescore), and centroids.
    assert path.stat().st_size < share_of_float * vectors.nbytes
    loaded = read_vector_index(path, settings)
    assert vector_index_kind(loaded) == kind
    noisy = vectors[:200] + 0.05 * _unit(200, 2)
    noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
    _, neighbours = search(loaded, noisy, 1)
    assert (neighbours[:, 0] == np.arange(200)).mean() >= 0.95
    _, masked = search(loaded, noisy, 3, exclude=np.arange(100))
    assert (masked >= 0).all() and masked[:100].min() >= 100  # taken-down rows never return
    assert (masked[100:, 0] == np.arange(100, 200)).mean() >= 0.95


def test_probes_and_training_sample_stop_growing_with_the_corpus(tmp_path):
    settings = VectorSettings()
    probes = {}
    for passages in (127_000, 400_000, 13_000_000):
        index = empty_vector_index(passages, 64, settings)
        probes[passages] = faiss.extract_index_ivf(index).nprobe
    assert probes == {127_000: 44, 400_000: 64, 13_000_000: 64}  # nlist / 32 up to 2,048 lists
    assert len(training_rows(127_000, settings)) == 127_000  # up to 256 a list: every row
    assert len(training_rows(13_000_000, settings)) == settings.train_max
    # an index written before the cap reads back with it
    vectors = _unit(3000, 5)
    loose = VectorSettings(exact_max=10, max_nprobe=10**6, nprobe_fraction=1.0, min_nprobe=1)
    write_vector_index(build_vector_index(vectors, loose), tmp_path / "v.faiss")
    capped = VectorSettings(exact_max=10, max_nprobe=20, nprobe_fraction=1.0, min_nprobe=1)
    assert faiss.extract_index_ivf(read_vector_index(tmp_path / "v.faiss", capped)).nprobe == 20


def test_an_ivf_flat_index_of_an_earlier_build_still_reads(tmp_path):
    """Builds before compressed kinds wrote IVF-Flat above ``exact_max``; the file says so."""
    vectors = _unit(3000, 4)
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(64), 64, 219, faiss.METRIC_INNER_PRODUCT)
    index.train(vectors)
    index.add(vectors)
    write_vector_index(index, tmp_path / "v.faiss")
    loaded = read_vector_index(tmp_path / "v.faiss", VectorSettings(exact_max=1000))
    assert vector_index_kind(loaded) == "ivf-flat(nlist=219,nprobe=16)"
    _, neighbours = search(loaded, vectors[:50], 1, exclude=np.arange(10))
    assert (neighbours[10:, 0] == np.arange(10, 50)).all() and neighbours[:10].min() >= 10


def test_search_answers_the_same_on_one_thread_and_many():
    vectors = _unit(2000, 3)
    index = build_vector_index(vectors, VectorSettings())
    few, many = vectors[:5], vectors[:400]
    threads = faiss.omp_get_max_threads()
    scores, neighbours = search(index, few, 3)
    assert (neighbours[:, 0] == np.arange(5)).all() and np.allclose(scores[:, 0], 1.0, atol=1e-5)
    assert faiss.omp_get_max_threads() == threads  # the thread setting is given back
    _, many_neighbours = search(index, many, 3)
    assert (many_neighbours[:5] == neighbours).all()


# A real index is compressed above this many passages in these tests (the default is 50,000).
SMALL_THRESHOLD = 100


@pytest.fixture(scope="module")
def exact_and_compressed(tmp_path_factory, data_root) -> dict[str, ReferenceIndex]:
    """The same 300 real GSM8K test items, indexed exact and with each compressed kind."""
    corpora = [catalog_corpus("gsm8k-test", data_root, limit=300)]
    # Half the lists probed: at 750 passages 16 of 109 lists lose 4% of top passages whatever
    # the codes (IVF's probing, not compression, which is what is tested here).
    probe = {"exact_max": SMALL_THRESHOLD, "nprobe_fraction": 1 / 2}
    kinds = {
        "flat-ip": VectorSettings(),
        "ivf-sq8": VectorSettings(**probe),
        "ivf-pq": VectorSettings(**probe, pq_min=SMALL_THRESHOLD),
        "ivf-pq fast-scan": VectorSettings(**probe, pq_min=SMALL_THRESHOLD, pq_fast_scan=True),
    }
    out = {}
    for kind, vectors in kinds.items():
        folder = tmp_path_factory.mktemp("vectors") / kind
        build_index(folder, corpora, settings=IndexSettings(vectors=vectors))
        out[kind] = ReferenceIndex.open(folder)
    return out


def test_compressed_kind_is_chosen_above_the_threshold_and_recorded(exact_and_compressed):
    for kind, index in exact_and_compressed.items():
        (record,) = index.manifest.corpora
        assert record.passages > SMALL_THRESHOLD
        assert record.vector_index.split("(")[0] == kind.split()[0]
        assert ("fast-scan" in record.vector_index) == kind.endswith("fast-scan")
        assert vector_index_kind(index.corpora[0].static_vectors) == record.vector_index


def test_compressed_vectors_find_the_exact_top_passages(exact_and_compressed, web_docs):
    """Real query windows (reworded items hidden in C4 pages, and the pages around them): the
    passage exact search ranks first, when above the tier's floor, is among each compressed
    kind's top k for all but 0.5% of windows (the loss the paraphrase suite allows)."""
    from benchmarks.vector_compression import query_windows, top_k_agreement

    exact = exact_and_compressed["flat-ip"]
    items = exact.corpora[0]
    rng = random.Random(3)
    texts = [
        hide(T.swap_vocabulary(items.item_text(n)[:400], rng), web_docs[n], rng)[0]
        for n in range(0, 300, 10)
    ]
    queries = query_windows(exact, texts)
    settings = ParaphraseSettings()
    k = 3 * settings.top_k
    truth = search(items.static_vectors, queries, k)
    assert (truth[0][:, 0] >= settings.min_static_cosine).sum() >= 100  # a sample worth having
    for kind in ("ivf-sq8", "ivf-pq", "ivf-pq fast-scan"):
        _, found = search(exact_and_compressed[kind].corpora[0].static_vectors, queries, k)
        _, _, first = top_k_agreement(truth, found, settings.min_static_cosine)
        assert first >= 0.995, kind


def test_a_scan_over_a_compressed_index_finds_reworded_items(
    exact_and_compressed, embedder, data_root, web_docs
):
    index = exact_and_compressed["ivf-sq8"]
    scanner = Scanner.load(
        index.path, settings=ScanSettings(tiers=("paraphrase",)), embedder=embedder
    )
    items = catalog_corpus("gsm8k-test", data_root, limit=300).items[200:206]
    rng = random.Random(4)
    found = 0
    for number, item in enumerate(items):
        text = T.rename_people(T.swap_vocabulary(item.text[: item.meta["prompt_end"]], rng), rng)
        doc, _ = hide(text, web_docs[300 + number], random.Random(number))
        matches = [m for m in scanner.scan(doc).matches if m.ref_id == item.id]
        found += bool(matches) and matches[0].decision.value != "keep"
    assert found >= 5  # of 6 lightly reworded questions
