"""Issue 2's detection categories on real data, with the verbatim tier (no model needed).

Benchmark items and book passages are hidden in real C4 pages; negatives must stay `keep`.
Recall and false-positive rates at scale are measured by benchmarks/quality.py; here each
category is checked on a handful of real cases so a regression fails the suite.
"""

from __future__ import annotations

import json
import random
import shutil

import numpy as np
import pytest

import indexer.presence as presence
from indexer.build import build_index
from indexer.presence import PresenceFilter
from reference_corpora import transforms as T
from reference_corpora.suite import SuiteBuilder, SuiteData, evaluate, read_web
from service.document import Document
from service.scanner import Scanner, ScanSettings
from service.verbatim_candidates import (
    BatchGrams,
    CandidateLimits,
    find_candidates,
)
from tests.conftest import BOOKS_OUTSIDE, books_corpus, catalog_corpus


@pytest.fixture(scope="module")
def scanner(small_index):
    return Scanner.load(small_index, settings=ScanSettings(tiers=("verbatim",)))


@pytest.fixture(scope="module")
def builder(data_root, small_corpora):
    data = SuiteData(
        root=data_root,
        haystack=read_web(data_root / "web" / "llamafactory_c4_demo_300.jsonl"),
        clean_web=read_web(data_root / "web" / "c4_sample_1000.jsonl"),
        corpora={c.name: c for c in small_corpora},
        negatives={
            "gsm8k-train": catalog_corpus("gsm8k-train", data_root, limit=400).items,
            "mbpp": catalog_corpus("mbpp", data_root, limit=200).items,
            "books-outside": books_corpus(data_root, BOOKS_OUTSIDE, "outside").items,
        },
    )
    return SuiteBuilder(data, seed=11)


def _assert_all_found(scanner, cases):
    outcomes = evaluate(scanner, cases)
    missed = [(o.case.doc_id, o.decision, o.top, o.case.expected) for o in outcomes if not o.found]
    assert not missed


def _assert_none_flagged(scanner, cases):
    outcomes = evaluate(scanner, cases)
    flagged = [(o.case.doc_id, o.decision, o.top) for o in outcomes if o.flagged]
    assert not flagged


ITEMS = ("gsm8k-test", "mmlu-test", "humaneval")


def test_verbatim_items_hidden_in_c4_pages_are_found(scanner, builder):
    _assert_all_found(scanner, builder.hidden_items("verbatim", ITEMS, 12))


@pytest.mark.parametrize(
    "transform", [T.rewrap, T.recase, T.markdown, T.light_edit], ids=lambda t: t.__name__
)
def test_rewrapped_recased_markdown_and_edited_items_are_found(scanner, builder, transform):
    _assert_all_found(
        scanner, builder.hidden_items("variant", ("gsm8k-test", "mmlu-test"), 8, transform)
    )


def test_short_truthfulqa_questions_are_found(scanner, builder):
    cases = builder.hidden_items("short", ("truthfulqa",), 12)
    assert max(len(c.text[c.span[0] : c.span[1]].split()) for c in cases) < 40
    _assert_all_found(scanner, cases)


def test_book_passages_are_found_and_attributed_to_the_work(scanner, builder):
    cases = builder.book_passages("book", 8)
    _assert_all_found(scanner, cases)
    result = scanner.scan(cases[0].text)
    (match,) = [m for m in result.matches if m.corpus == "books"]
    assert match.ref_id in {"books_11-0", "books_1952-0"} and match.kind == "copyright"


def test_book_passages_with_ocr_digits_and_changed_numbers_are_still_found(scanner, builder):
    """A work's numbers are not its identity: an OCR "0" for "o" or "fifty percent" for
    "half" once zeroed the risk of a page-long copy (benchmark items still check numbers)."""

    def garble(text: str, rng: random.Random) -> str:
        words = text.split()
        for i in rng.sample(range(len(words)), 3):
            words[i] = words[i].replace("o", "0", 1) if "o" in words[i] else words[i] + " 1"
        return " ".join(words) + " It was half past 12."

    cases = builder.book_passages("book-ocr", 8, garble)
    assert all(any(ch.isdigit() for ch in c.text[c.span[0] : c.span[1]]) for c in cases)
    _assert_all_found(scanner, cases)


def test_a_shared_list_of_numbers_alone_is_not_evidence(scanner, small_corpora, web_docs):
    """HumanEval/30, /34 and /35 share `[5, 3, -5, 2, -3, 3, 9, 0, 123, 1, -10]`; a page with
    that list in it has copied none of them (an MBPP page with a list of primes was flagged
    against HumanEval/96 before)."""
    (item,) = [it for it in small_corpora[2].items if it.id == "HumanEval/30"]
    numbers = "5, 3, -5, 2, -3, 3, 9, 0, 123, 1, -10"
    assert numbers in item.text
    page = web_docs[3][:800] + "\nTest data: [" + numbers + "] and again " + numbers + ".\n"
    result = scanner.scan(page)
    assert result.decision.value == "keep"
    assert not [m for m in result.matches if m.corpus == "humaneval"]
    # With a word of the item around the numbers it is evidence again.
    copied = page + "\n>>> get_positive([-1, 2, -4, 5, 6])\n[2, 5, 6]\n"
    assert any(m.ref_id == "HumanEval/30" for m in scanner.scan(copied).matches)


def test_clean_c4_pages_stay_keep(scanner, builder):
    _assert_none_flagged(scanner, builder.negatives("clean-web", 60))


@pytest.mark.parametrize("category", ["gsm8k-train", "mbpp", "books-outside"])
def test_hard_negatives_stay_keep(scanner, builder, category):
    _assert_none_flagged(scanner, builder.negatives(category, 25))


def test_evidence_spans_point_at_the_original_text_on_both_sides(scanner, small_corpora, web_docs):
    item = small_corpora[0].items[21]
    shouted = T.rewrap(item.text.upper(), random.Random(3))
    doc = web_docs[10][:400] + "\n\n" + shouted + "\n\n" + web_docs[10][400:]
    (match, *_) = scanner.scan(doc).matches
    assert (match.corpus, match.ref_id, match.methods) == ("gsm8k-test", item.id, ("verbatim",))
    assert match.coverage > 0.95 and match.similarity > 0.95
    evidence = match.evidence[0]
    assert doc[evidence.doc_start : evidence.doc_end].split()[:3] == shouted.split()[:3]
    assert item.text[evidence.ref_start : evidence.ref_end].split()[:3] == item.text.split()[:3]
    assert match.snippet.split()[:3] == shouted.split()[:3]


def test_a_shared_stock_phrase_does_not_flag_a_document(scanner, small_corpora):
    item = small_corpora[0].items[0]  # Janet's ducks ... at the farmers' market
    doc = (
        "We met at the farmers' market every day. How much in dollars does she make? Nobody knows."
    )
    result = scanner.scan(doc)
    assert result.decision.value == "keep"
    assert all(m.ref_id != item.id or m.risk < 0.5 for m in result.matches)


def test_same_template_with_other_numbers_is_not_the_same_item(scanner, small_corpora):
    item = small_corpora[0].items[0]
    changed = item.text.replace("16", "21").replace("$2", "$3").replace("three", "five")
    changed = changed.replace("18", "36").replace("9", "13")
    assert scanner.scan(item.text).decision.value == "remove"
    assert scanner.scan(changed).decision.value == "keep"


@pytest.mark.parametrize(
    "after", ["\n1970 deaths were recorded that year.", "\n6. What kind of"], ids=["year", "list"]
)
@pytest.mark.parametrize(("corpus", "index"), [(1, 0), (3, 5)], ids=["truthfulqa", "mmlu"])
def test_an_item_with_a_word_dropped_is_found_when_a_number_follows_it(
    scanner, small_corpora, web_docs, corpus, index, after
):
    """With a word dropped near its end, an item was found alone but scored 0 when the page
    went on with a number ("...seeds?" then "1970 deaths", "...Answer: A" then "6. What"):
    the aligned region ran one token into the page and took the number in, which the item
    lacks. TruthfulQA/0 and MMLU abstract_algebra/5, each with its third word from the end
    dropped."""
    item = small_corpora[corpus].items[index]
    words = item.text.split(" ")
    edited = " ".join(words[:-3] + words[-2:])
    page = web_docs[12][:600] + "\n" + edited + after + " " + web_docs[12][600:1200]

    matches = [m for m in scanner.scan(page).matches if m.ref_id == item.id]

    assert matches and matches[0].decision.value == "remove", matches
    copy_end = page.index(after)
    assert all(e.doc_end <= copy_end for e in matches[0].evidence)


def test_a_batch_gives_each_document_what_it_gets_alone(scanner, small_corpora, web_docs):
    """Candidates are looked up for a whole batch at once; no document may gain or lose
    evidence by its neighbours, also when an item is cut across two adjacent documents (the
    grams that would straddle them belong to neither)."""
    items = [it.text for corpus in small_corpora for it in corpus.items[:4]]
    docs = []
    for n, item in enumerate(items):
        page = web_docs[n]
        words = item.split()
        for cut in (3, len(words) // 2):
            head, tail = " ".join(words[:cut]), " ".join(words[cut:])
            docs += [page[:500] + "\n" + head, tail + "\n" + page[500:1500]]
        docs.append(page[:800] + "\n" + item + "\n" + page[800:])
    docs += ["", web_docs[50]]
    batch = scanner.scan_many(docs)
    alone = [scanner.scan(doc) for doc in docs]
    assert [r.to_dict() for r in batch] == [r.to_dict() for r in alone]
    assert sum(r.decision.value != "keep" for r in batch) >= len(items)
    # Alignment reads each document's own grams, so a straddling gram would only show in the
    # candidates: compare those too, and with the presence filter against a full search.
    matcher, settings = scanner.verbatim, scanner.index.manifest.settings
    documents = [Document(doc, settings) for doc in docs]
    for corpus in scanner.index.corpora:
        min_hits = matcher.policy.for_kind(corpus.record.kind.value).candidate_min_hits
        presence = PresenceFilter(corpus.presence_words)
        together = _candidates(documents, corpus, presence, min_hits)
        alone = [_candidates([d], corpus, presence, min_hits)[0] for d in documents]
        assert together == alone
        assert together == _candidates(documents, corpus, _NothingAbsent(), min_hits)
        assert sum(map(len, together)) > 0


def _candidates(docs, corpus, presence, min_hits):
    lengths = corpus.record.gram_lengths
    grams = [BatchGrams.of(docs, corpus.record.mode, n) for n in lengths]
    return find_candidates(
        grams, corpus, presence, CandidateLimits(2000, 2000, min_hits), len(docs)
    )


class _NothingAbsent:
    """A presence filter that passes every gram: the candidates of a full search."""

    def may_hold(self, keys):
        return np.ones(len(keys), dtype=bool)


def test_empty_and_whitespace_documents_are_kept(scanner):
    for text in ("", "   \n\t", "!!! ???"):
        result = scanner.scan(text)
        assert (result.decision.value, result.matches, result.risk) == ("keep", (), 0.0)


# Real MMLU items. The professional_law ones share the subject's stock wording with /212
# ("Which of the following constitutional provisions", "the equal protection clause of the
# Fourteenth Amendment", "The privileges and immunities clause of").
SUBJECT_ITEMS = (
    "professional_law/212",
    "professional_law/70",
    "professional_law/330",
    "professional_law/892",
    "philosophy/44",
    "high_school_macroeconomics/290",
)


def _mmlu_scanner(tmp_path, data_root, embedder, ids):
    corpus = catalog_corpus("mmlu-test", data_root)
    corpus.items = [it for it in corpus.items if it.id in ids]
    assert len(corpus.items) == len(ids)
    build_index(tmp_path, [corpus])
    return Scanner.load(tmp_path, settings=ScanSettings(tiers=("verbatim",)))


@pytest.fixture(scope="module")
def mmlu_items(data_root):
    return {it.id: it for it in catalog_corpus("mmlu-test", data_root).items}


@pytest.fixture(scope="module")
def subject_scanner(tmp_path_factory, data_root, embedder):
    return _mmlu_scanner(tmp_path_factory.mktemp("subject"), data_root, embedder, SUBJECT_ITEMS)


def _page(web_docs, text: str) -> str:
    return web_docs[5][:600] + "\n\n" + text + "\n\n" + web_docs[5][600:1200]


def test_another_question_in_the_subjects_stock_wording_is_kept(
    subject_scanner, mmlu_items, web_docs, tmp_path, data_root, embedder
):
    """MMLU professional_law/587 (not indexed) shares three stock phrases with /212 and
    nothing of its own; a copy of /212 is still removed."""
    other = _page(web_docs, mmlu_items["professional_law/587"].text)
    assert subject_scanner.scan(other).decision.value == "keep"
    copy = _page(web_docs, mmlu_items["professional_law/212"].text)
    (match, *_) = subject_scanner.scan(copy).matches
    assert (match.ref_id, match.decision.value) == ("professional_law/212", "remove")
    # With /212 alone in the index the phrases are its own, and the same page is flagged.
    alone = _mmlu_scanner(tmp_path, data_root, embedder, ("professional_law/212",))
    assert alone.scan(other).decision.value != "keep"


def test_a_saying_the_item_quotes_is_not_the_item(subject_scanner, mmlu_items, web_docs):
    """philosophy/44 asks who said “An unexamined life is not worth living”; a page quoting
    Socrates has not copied it, a page with the question has."""
    quoting = _page(web_docs, "As Socrates put it, an unexamined life is not worth living.")
    assert subject_scanner.scan(quoting).decision.value == "keep"
    copy = _page(web_docs, mmlu_items["philosophy/44"].text)
    assert subject_scanner.scan(copy).decision.value == "remove"


def test_a_stock_stem_glued_to_an_options_terms_is_not_the_stem(
    subject_scanner, mmlu_items, web_docs
):
    """high_school_macroeconomics/155 asks what shifts "the long-run aggregate supply curve";
    /290 asks "Which of the following is equal to one?" with that curve in an option. The
    alignment spans both, but the stem's own words ("equal to one") are not on the page."""
    other = _page(web_docs, mmlu_items["high_school_macroeconomics/155"].text)
    assert subject_scanner.scan(other).decision.value == "keep"
    copy = _page(web_docs, mmlu_items["high_school_macroeconomics/290"].text)
    assert subject_scanner.scan(copy).decision.value == "remove"


def test_an_index_written_before_the_presence_file_scans_the_same(
    small_index, scanner, web_docs, small_corpora, tmp_path
):
    older = tmp_path / "older"
    shutil.copytree(small_index, older)
    manifest = json.loads((older / "manifest.json").read_text(encoding="utf-8"))
    for corpus in manifest["corpora"]:
        corpus["files"] = [f for f in corpus["files"] if f["name"] != presence.PRESENCE_FILE]
        folder = older / "corpora" / corpus.get("folder", corpus["name"])
        (folder / presence.PRESENCE_FILE).unlink()
    (older / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    old_scanner = Scanner.load(older, settings=ScanSettings(tiers=("verbatim",)))
    assert all(c.presence_words is None for c in old_scanner.index.corpora)
    items = [c.items[len(c.items) // 2].text for c in small_corpora if c.items]
    docs = [web_docs[7][:700] + "\n" + item + "\n" + web_docs[7][700:1400] for item in items]
    docs += web_docs[20:40]
    results = old_scanner.scan_many(docs)
    assert [r.to_dict() for r in results] == [r.to_dict() for r in scanner.scan_many(docs)]
    assert sum(r.decision.value != "keep" for r in results) >= len(items)
