from __future__ import annotations

import faiss
import numpy as np

from indexer.vector_index import (
    VectorSettings,
    build_vector_index,
    read_vector_index,
    search,
    vector_index_kind,
    write_vector_index,
)


def _unit(rows: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(rows, 64)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_small_indexes_are_exact():
    index = build_vector_index(_unit(100, 0), VectorSettings(exact_max=1000))
    assert isinstance(index, faiss.IndexFlatIP) and vector_index_kind(index) == "flat-ip"


def test_large_indexes_are_ivf_and_still_find_near_duplicates(tmp_path):
    vectors = _unit(6000, 1)
    settings = VectorSettings(exact_max=1000)
    index = build_vector_index(vectors, settings)
    assert isinstance(index, faiss.IndexIVFFlat) and index.ntotal == 6000
    assert vector_index_kind(index).startswith("ivf-flat(nlist=309")
    path = tmp_path / "v.faiss"
    write_vector_index(index, path)
    loaded = read_vector_index(path, settings)
    noisy = vectors[:200] + 0.05 * _unit(200, 2)
    noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
    _, neighbours = loaded.search(noisy, 1)
    assert (neighbours[:, 0] == np.arange(200)).mean() >= 0.95


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
