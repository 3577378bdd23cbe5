"""The merge of a corpus's parts into its folder: postings sorted in buckets, vectors added
part by part, the same bytes as the one-piece build (real books, real static model)."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pytest

import indexer.part_merge as part_merge
from indexer.build_parts import PartArrays, StoredPart, build_part, cut_parts
from indexer.corpus import Corpus
from indexer.manifest import IndexSettings
from indexer.part_merge import bucket_bits, write_merged_corpus
from indexer.static_embedding import STATIC_DIR, StaticEmbedder
from indexer.store import STATIC_VECTORS
from indexer.vector_index import VectorSettings, build_vector_index, write_vector_index
from tests.indexer.build_helpers import PART_CHARS


@pytest.fixture(scope="module")
def books(parted_corpora) -> Corpus:
    return next(c for c in parted_corpora if c.name == "books")


@pytest.fixture(scope="module")
def stored_parts(books, whole_build, tmp_path_factory) -> list[StoredPart]:
    """The books' four parts, built here and saved as a build saves them."""
    static = StaticEmbedder(whole_build / STATIC_DIR)
    folder = tmp_path_factory.mktemp("parts")
    stored = []
    for number, task in enumerate(cut_parts(books, PART_CHARS, "")):
        path = folder / f"{number}.npz"
        build_part(task, IndexSettings(), static).save(path)
        stored.append(StoredPart(path))
    assert len(stored) == 4
    return stored


def _files(folder: Path) -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.iterdir())
        if path.is_file()
    }


def _merged(tmp_path: Path, name: str, books, parts, settings=None) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    write_merged_corpus(folder, books, parts, settings or IndexSettings())
    return folder


def test_parts_merged_are_the_corpus_folder_of_the_one_piece_build(
    books, stored_parts, whole_build, tmp_path
):
    merged = _merged(tmp_path, "merged", books, stored_parts)
    assert _files(merged) == _files(whole_build / "corpora" / "books")
    assert not (merged / ".merge-work").exists()


def test_postings_sorted_in_many_buckets_equal_one_sort_of_all(
    books, stored_parts, tmp_path, monkeypatch
):
    one = _merged(tmp_path, "one", books, stored_parts)
    grams = sum(len(p.array("gram_hashes")) for p in stored_parts)
    monkeypatch.setattr(part_merge, "BUCKET_POSTINGS", grams // 50)
    assert bucket_bits(grams) == 6
    many = _merged(tmp_path, "many", books, stored_parts)
    assert _files(many) == _files(one)
    # a few buckets a pass over the parts (work files of a bounded size)
    monkeypatch.setattr(part_merge, "WORK_POSTINGS", grams // 10)
    runs = _merged(tmp_path, "runs", books, stored_parts)
    assert _files(runs) == _files(one)
    # and that table is the (hash, passage) order of every part's postings
    parts = [
        PartArrays(**{f.name: p.array(f.name) for f in dataclasses.fields(PartArrays)})
        for p in stored_parts
    ]
    first = np.cumsum([0] + [len(p.passages) for p in parts])[:-1]
    hashes = np.concatenate([p.gram_hashes for p in parts])
    owners = np.concatenate(
        [
            np.repeat(np.arange(len(p.gram_counts)) + f, p.gram_counts)
            for p, f in zip(parts, first, strict=True)
        ]
    )
    order = np.lexsort((owners, hashes))
    assert np.array_equal(np.load(many / "ngram_hashes.npy"), hashes[order])
    assert np.array_equal(np.load(many / "ngram_passages.npy"), owners[order])


@pytest.mark.parametrize(
    "vectors",
    [
        VectorSettings(exact_max=1000),
        VectorSettings(exact_max=1000, pq_min=2000, train_max=3000, pq_bytes=8),
    ],
    ids=["ivf-sq8", "ivf-pq"],
)
def test_a_compressed_vector_index_filled_part_by_part_is_the_one_built_at_once(
    books, stored_parts, tmp_path, vectors
):
    settings = dataclasses.replace(IndexSettings(), vectors=vectors)
    merged = _merged(tmp_path, "merged", books, stored_parts, settings)
    all_vectors = np.concatenate([p.array("vectors") for p in stored_parts])
    assert len(all_vectors) > 2000
    write_vector_index(build_vector_index(all_vectors, vectors), tmp_path / "once.faiss")
    assert (merged / STATIC_VECTORS).read_bytes() == (tmp_path / "once.faiss").read_bytes()
