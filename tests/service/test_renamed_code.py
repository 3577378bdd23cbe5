"""Renamed copies of real HumanEval programs, found by their shape (``service.renamed_code``)."""

from __future__ import annotations

import random
import shutil

import pytest

from indexer.store import ReferenceIndex
from indexer.takedown import remove_items
from reference_corpora import transforms as T
from reference_corpora.suite import hide
from service.api.schemas import EvidenceModel
from service.code_shape import item_shape, length_weight
from service.document import Document
from service.renamed_code import RenamedCodeMatcher, RenamedCodeSettings
from service.scanner import Scanner, ScanSettings
from tests.conftest import catalog_corpus


def _renamed(item, seed: int) -> str:
    rng = random.Random(seed)
    return T.reword_docstring(T.rename_identifiers(item.text, rng), rng)


def _find(matcher: RenamedCodeMatcher, page: str, skip=frozenset()):
    return matcher.find(Document(page, matcher.index.manifest.settings), set(skip))


@pytest.fixture(scope="module")
def matcher(small_index) -> RenamedCodeMatcher:
    return RenamedCodeMatcher(ReferenceIndex.open(small_index))


def test_every_renamed_program_long_enough_is_found_where_it_was_hidden(
    matcher, small_corpora, web_docs
):
    """Renaming and rewording a docstring leave a program's shape as it was, so each copy
    aligns in full; only programs too short for their shape to count are not looked for."""
    long_enough = 0
    for number, item in enumerate(small_corpora[2].items):
        page, (start, end) = hide(_renamed(item, number), web_docs[300 + number], random.Random(1))
        found = [e for e in _find(matcher, page) if e.corpus.ids[e.item] == item.id]
        if length_weight(item_shape(item.text)) < RenamedCodeSettings().min_similarity:
            assert not found
            continue
        long_enough += 1
        (match,) = found
        evidence = match.evidence
        assert evidence.method.value == "renamed" and evidence.similarity == 1.0
        # The span is the program on the page: from its first code token to its last.
        assert start <= evidence.doc_start < evidence.doc_end <= end
        assert (evidence.doc_end - evidence.doc_start) >= 0.9 * (end - start)
        assert not item.text[: evidence.ref_start].strip()  # from the item's first character
        assert not item.text[evidence.ref_end :].strip()
    assert long_enough >= 30


def test_other_programs_and_ordinary_pages_are_not_renamed_copies(matcher, data_root, web_docs):
    """MBPP programs solve other tasks in the same style; none has a HumanEval shape."""
    mbpp = catalog_corpus("mbpp", data_root).items[:300]
    for number, program in enumerate(mbpp):
        page, _ = hide(program.text, web_docs[number], random.Random(number))
        assert not _find(matcher, page), program.id
    assert not any(_find(matcher, page) for page in web_docs[300:600])


def test_items_the_verbatim_tier_decides_are_skipped(matcher, small_corpora, web_docs):
    item = small_corpora[2].items[9]
    page, _ = hide(_renamed(item, 1), web_docs[5], random.Random(5))
    (found,) = _find(matcher, page)
    assert not _find(matcher, page, {(found.corpus.name, found.item)})


def test_a_scan_reports_renamed_evidence_in_its_json_and_decides_remove(
    small_index, embedder, small_corpora, web_docs
):
    scanner = Scanner.load(small_index, settings=ScanSettings(), embedder=embedder)
    item = small_corpora[2].items[9]
    page, _ = hide(_renamed(item, 1), web_docs[6], random.Random(6))
    result = scanner.scan(page)
    (match,) = [m for m in result.matches if m.ref_id == item.id]
    assert "renamed" in match.methods and result.decision.value == "remove"
    for evidence in result.to_dict()["matches"][0]["evidence"]:
        EvidenceModel.model_validate(evidence)  # what the HTTP API returns
    assert any(e["method"] == "renamed" for e in result.to_dict()["matches"][0]["evidence"])


def test_a_program_taken_down_is_not_found_again(tmp_path, small_index, small_corpora, web_docs):
    copy = tmp_path / "index"
    shutil.copytree(small_index, copy)
    gone, kept = small_corpora[2].items[9], small_corpora[2].items[12]
    pages = [
        hide(_renamed(item, n), web_docs[20 + n], random.Random(n))[0]
        for n, item in enumerate((gone, kept))
    ]
    remove_items(copy, [gone.id], corpus="humaneval")
    matcher = RenamedCodeMatcher(ReferenceIndex.open(copy))
    assert not _find(matcher, pages[0])
    assert [e.corpus.ids[e.item] for e in _find(matcher, pages[1])] == [kept.id]
