"""The review queue over real scan results: indexed once, paged and filtered from the index."""

from __future__ import annotations

import json
import os

import pytest

from service.review.queue import QueueFilter, ReviewInputError, ReviewResults
from service.review.store import Verdict
from tests.service.review.conftest import EXPECTED


def ids(results: ReviewResults, chosen: QueueFilter) -> list[str]:
    return [row.doc_id for row in results.page(chosen, 0, 100)]


def test_the_queue_holds_the_flagged_documents_by_risk_with_their_filters(scanned_shards):
    results = ReviewResults.open(scanned_shards)
    everything = QueueFilter(decisions=("review", "remove"), reviewed=None)
    rows = results.page(everything, 0, 100)

    assert {r.doc_id: r.decision for r in rows} == EXPECTED
    assert [r.risk for r in rows] == sorted((r.risk for r in rows), reverse=True)
    assert set(ids(results, QueueFilter())) == {"rv-review", "rv-review2"}
    assert ids(results, QueueFilter(decisions=("remove",), kind="copyright")) == ["rv-book"]
    assert set(ids(results, QueueFilter(decisions=("remove",), corpus="gsm8k-test"))) == {
        "rv-remove",
        "rv-html",
    }
    in_first = QueueFilter(decisions=("review", "remove"), shard="part-1.jsonl", reviewed=None)
    assert set(ids(results, in_first)) == {"rv-remove", "rv-review"}
    assert results.count(everything) == 5
    assert [r.doc_id for r in results.page(everything, 1, 2)] == [r.doc_id for r in rows[1:3]]
    facets = results.facets()
    assert facets.results == 35 and facets.decisions == {"keep": 30, "review": 2, "remove": 3}
    assert facets.corpora == ["books", "gsm8k-test"] and facets.kinds == ["benchmark", "copyright"]
    assert facets.shards == ["part-1.jsonl", "part-2.jsonl.gz"]


def test_documents_come_back_with_their_text_from_plain_and_compressed_shards(
    scanned_shards, review_docs
):
    results = ReviewResults.open(scanned_shards)
    texts = {d["id"]: d["text"] for d in review_docs}
    rows = results.page(QueueFilter(decisions=("review", "remove"), reviewed=None), 0, 100)
    assert {r.shard for r in rows} == {"part-1.jsonl", "part-2.jsonl.gz"}
    for row in rows:
        stored = results.document(row.row)
        assert (stored.doc_id, stored.text) == (row.doc_id, texts[row.doc_id])
        assert stored.result["decision"] == EXPECTED[row.doc_id]
    with pytest.raises(KeyError):
        results.document(999)


def test_reviewed_documents_leave_the_pending_queue(shard_results):
    results = ReviewResults.open(shard_results)
    row = next(r for r in results.page(QueueFilter(), 0, 10) if r.doc_id == "rv-review")
    match = results.document(row.row).result["matches"][0]
    results.store.record(
        Verdict("rv-review", match["corpus"], match["ref_id"], "confirmed", "ana", row.flagged)
    )

    assert ids(results, QueueFilter()) == ["rv-review2"]
    assert ids(results, QueueFilter(reviewed=True)) == ["rv-review"]
    assert results.count(QueueFilter(reviewed=None)) == 2


def test_a_scan_results_file_reads_its_texts_from_the_documents(scanned_file, review_inputs):
    without = ReviewResults.open(scanned_file)
    rows = without.page(QueueFilter(decisions=("review", "remove"), reviewed=None), 0, 100)
    assert {r.doc_id: r.decision for r in rows} == EXPECTED
    assert without.document(rows[0].row).text is None
    assert "evidence" in without.document(rows[0].row).result["matches"][0]

    with_docs = ReviewResults.open(scanned_file, docs=[str(review_inputs)])
    for row in rows:
        stored = with_docs.document(row.row)
        assert stored.text is not None and stored.result["id"] == row.doc_id

    wrong = ReviewResults.open(scanned_file, docs=[str(review_inputs / "part-2.jsonl.gz")])
    with pytest.raises(ReviewInputError, match="is not the document of result"):
        for row in rows:
            wrong.document(row.row)


def test_the_index_is_rebuilt_when_the_results_change(shard_results):
    results = ReviewResults.open(shard_results)
    built = results.index_path.stat().st_mtime_ns
    ReviewResults.open(shard_results)
    assert results.index_path.stat().st_mtime_ns == built  # unchanged results: not rebuilt

    shard = shard_results / "annotated" / "part-1.jsonl"
    lines = shard.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    kept = [r for r in records if r["clearance"]["decision"] == "keep"]
    shard.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
    os.utime(shard, ns=(built + 10**9, built + 10**9))
    rebuilt = ReviewResults.open(shard_results)
    everything = QueueFilter(decisions=("review", "remove"), reviewed=None)
    assert set(ids(rebuilt, everything)) == set(EXPECTED) - {"rv-remove", "rv-review"}


def test_what_is_not_results_is_refused(tmp_path, review_inputs):
    with pytest.raises(ReviewInputError, match="not a scan-shards output folder"):
        ReviewResults.open(review_inputs)
    with pytest.raises(ReviewInputError, match="does not exist"):
        ReviewResults.open(tmp_path / "nothing.jsonl")
