"""Building, adding to and reading back a real index (real model, real FAISS)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from indexer.build import add_corpora, build_index
from indexer.corpus import Corpus, CorpusInputError, CorpusKind, ReferenceItem
from indexer.manifest import (
    ClearanceIndexError,
    IndexMismatchError,
    IndexNotFoundError,
    read_manifest,
)
from indexer.store import ReferenceIndex
from service.scanner import Scanner, ScanSettings


def _quiz(name: str, texts: list[str]) -> Corpus:
    items = [ReferenceItem(f"{name}-{i}", t) for i, t in enumerate(texts)]
    return Corpus(name=name, kind=CorpusKind.BENCHMARK, items=items)


@pytest.fixture
def tiny_index(tmp_path):
    out = tmp_path / "tiny"
    build_index(
        out,
        [
            _quiz(
                "quiz",
                [
                    "What is the boiling point of water at sea level in kelvin?",
                    "Name the largest moon of Saturn and its main gas.",
                ],
            )
        ],
    )
    return out


def test_manifest_records_model_settings_and_corpus_checksums(tiny_index):
    manifest = read_manifest(tiny_index)
    data = json.loads((tiny_index / "manifest.json").read_text())
    assert data["model"]["name"] == "all-MiniLM-L6-v2" and data["model"]["dimension"] == 384
    assert data["model"]["fingerprint"].startswith("sha256:")
    assert data["settings"]["ngrams"]["n"] == 5
    assert data["settings"]["normalization"]["version"] >= 1
    (record,) = manifest.corpora
    assert (record.name, record.items, record.passages) == ("quiz", 2, 2)
    assert record.checksum.startswith("sha256:") and record.vector_index == "flat-ip"


def test_stored_postings_are_sorted_and_static_vectors_are_searchable(tiny_index):
    index = ReferenceIndex.open(tiny_index)
    corpus = index.corpora[0]
    assert np.all(np.diff(corpus.ngram_hashes.astype(np.float64)) >= 0)
    assert corpus.item_text(1).startswith("Name the largest moon")
    query = index.static_embedder.encode(["Which moon of Saturn is biggest?"])
    _, neighbours = corpus.static_vectors.search(query, 1)
    assert corpus.passage_item(int(neighbours[0][0])) == 1


def test_adding_a_corpus_leaves_the_others_untouched(tiny_index):
    quiz_dir = tiny_index / "corpora" / "quiz"
    before = {p.name: p.stat().st_mtime_ns for p in quiz_dir.iterdir()}
    checksum = read_manifest(tiny_index).corpora[0].checksum
    add_corpora(
        tiny_index,
        [_quiz("trivia", ["Who painted the ceiling of the Sistine Chapel?"])],
    )
    after = {p.name: p.stat().st_mtime_ns for p in quiz_dir.iterdir()}
    manifest = read_manifest(tiny_index)
    assert before == after
    assert [c.name for c in manifest.corpora] == ["quiz", "trivia"]
    assert manifest.corpora[0].checksum == checksum
    with pytest.raises(ClearanceIndexError, match="already in"):
        add_corpora(tiny_index, [_quiz("trivia", ["x y z w"])])


def test_two_corpora_of_one_name_are_refused_before_anything_is_written(tmp_path):
    with pytest.raises(CorpusInputError, match="corpus 'quiz' is given twice"):
        build_index(tmp_path / "twice", [_quiz("quiz", ["one two three"]), _quiz("quiz", ["x"])])
    assert not (tmp_path / "twice").exists()


def test_existing_index_is_not_overwritten_by_accident(tiny_index):
    with pytest.raises(ClearanceIndexError, match="already holds an index"):
        build_index(tiny_index, [_quiz("quiz", ["another item entirely"])])


def _edited_manifest(index: Path, original: dict, section: str, key: str, value) -> None:
    data = json.loads(json.dumps(original))
    data[section][key] = value
    (index / "manifest.json").write_text(json.dumps(data))


def test_scanner_refuses_an_index_built_with_another_model_or_settings(tiny_index):
    path = tiny_index / "manifest.json"
    original = json.loads(path.read_text())
    normalization = {**original["settings"]["normalization"], "version": 999}

    _edited_manifest(tiny_index, original, "settings", "normalization", normalization)
    with pytest.raises(IndexMismatchError, match="normalization"):
        Scanner.load(tiny_index, settings=ScanSettings(tiers=("verbatim",)))

    # An index hashed with another function (an older release's xxh3) would match nothing.
    ngrams = {**original["settings"]["ngrams"], "hash": "xxh3_64-polynomial"}
    _edited_manifest(tiny_index, original, "settings", "ngrams", ngrams)
    with pytest.raises(IndexMismatchError, match=r"ngrams.*xxh3_64-polynomial"):
        Scanner.load(tiny_index, settings=ScanSettings(tiers=("verbatim",)))

    _edited_manifest(tiny_index, original, "model", "fingerprint", "sha256:" + "0" * 64)
    with pytest.raises(IndexMismatchError, match="model weights"):
        Scanner.load(tiny_index)

    path.write_text(json.dumps(original))
    with pytest.raises(IndexMismatchError, match="model: index 'all-MiniLM-L6-v2'"):
        Scanner.load(tiny_index, model="some-other-model")
    # Another backend of the same weights reads the index: no transformer vectors are stored.
    for backend in ("torch-fp32", "torch-bf16", "onnx-fp32"):
        scanner = Scanner.load(tiny_index, backend=backend)
        assert scanner.paraphrase.embedder.backend == backend

    _edited_manifest(tiny_index, original, "static_model", "checksum", "sha256:" + "1" * 64)
    with pytest.raises(IndexMismatchError, match="static model"):
        Scanner.load(tiny_index)
    path.write_text(json.dumps(original))


def test_missing_index_says_how_to_build_one(tmp_path):
    with pytest.raises(IndexNotFoundError, match="clearance index build"):
        read_manifest(tmp_path)


def test_a_short_item_with_a_solution_gets_a_passage_for_its_prompt_alone():
    from indexer.build_parts import item_passages
    from indexer.manifest import IndexSettings
    from indexer.normalize import TextMode, tokenize

    question = "Alice is 7 years older than Beth, who is 5 years older than Erica. Age of Alice?"
    text = question + "\nBeth is 30+5=35, so Alice is 35+7=42.\n#### 42"
    prompted = ReferenceItem("q", text, meta={"prompt_end": len(question)})
    passages = item_passages(prompted, tokenize(text, TextMode.PROSE), IndexSettings())
    prompt, whole = (text[p.char_start : p.char_end] for p in passages)
    assert prompt == question.rstrip("?") and whole == text
    # A multiple-choice item whose answer is one letter needs no second, near-equal passage.
    choice = "Which gas do plants take in?\nA. oxygen\nB. carbon dioxide\nAnswer: B"
    mc = ReferenceItem("mc", choice, meta={"prompt_end": choice.index("Answer")})
    assert len(item_passages(mc, tokenize(choice, TextMode.PROSE), IndexSettings())) == 1
