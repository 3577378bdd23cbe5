"""Allowlisted matches: reported as allowed, not counted in the risk, not counted by the gate.

A real verbatim scanner on the small index; a GSM8K test item hidden in a real C4 page.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from service.allowlist import AllowEntry, Allowlist, AllowlistError, allow_result
from service.gate import gate
from service.gate.evaluate import evaluate
from service.gate.policy import GatePolicy
from service.scanner import Scanner, ScanSettings
from service.shards import scan_shards
from service.shards.errors import ShardScanConfigError
from service.shards.results import iter_output_records
from tests.service.gate.conftest import first_words, hide


@pytest.fixture(scope="module")
def scanner(small_index) -> Scanner:
    return Scanner.load(small_index, settings=ScanSettings(tiers=("verbatim",)))


@pytest.fixture(scope="module")
def planted(small_corpora, web_docs) -> str:
    return hide(web_docs[300], small_corpora[0].items[7].text)


def only_match(result):
    assert len(result.matches) == 1, result
    return result.matches[0]


def test_a_document_entry_allows_that_document_only(scanner, planted):
    flagged = only_match(scanner.scan(planted, doc_id="page-1"))
    assert flagged.decision.value == "remove" and flagged.allowed is None
    entry = AllowEntry(flagged.corpus, flagged.ref_id, doc_id="page-1")
    allowing = Scanner(scanner.index, settings=scanner.settings, allowlist=Allowlist((entry,)))

    result = allowing.scan(planted, doc_id="page-1")
    match = only_match(result)
    assert (match.allowed, match.decision.value) == ("document", "keep")
    assert match.risk == flagged.risk  # still reported as strong as it is
    assert (result.decision.value, result.risk) == ("keep", 0.0)
    assert result.to_dict()["matches"][0]["allowed"] == "document"
    other = allowing.scan(planted, doc_id="page-2")
    assert other.decision.value == "remove" and only_match(other).allowed is None


def test_a_span_entry_allows_that_span_anywhere_but_not_more_of_the_item(
    scanner, small_corpora, web_docs
):
    item = small_corpora[0].items[7].text
    opening = hide(web_docs[301], first_words(item, 30))
    part = only_match(scanner.scan(opening, doc_id="a"))
    spans = sorted((e.ref_start, e.ref_end) for e in part.evidence)
    entry = AllowEntry(part.corpus, part.ref_id, ref_span=(spans[0][0], spans[-1][1]))
    allowing = Scanner(scanner.index, settings=scanner.settings, allowlist=Allowlist((entry,)))

    elsewhere = allowing.scan(hide(web_docs[302], first_words(item, 30)), doc_id="b")
    assert only_match(elsewhere).allowed == "span" and elsewhere.decision.value == "keep"
    whole = allowing.scan(hide(web_docs[303], item), doc_id="c")
    assert only_match(whole).allowed is None and whole.decision.value == "remove"


def test_earlier_results_judged_with_an_allowlist_do_not_count_its_matches(scanner, planted):
    policy = GatePolicy.from_dict({"kinds": {"benchmark": {"max_flagged_share": 0.0}}})
    result = scanner.scan(planted, doc_id="page-1")
    match = only_match(result)
    allowlist = Allowlist((AllowEntry(match.corpus, match.ref_id, doc_id="page-1"),))

    plain = allow_result(result.to_dict(), Allowlist())
    assert plain["decision"] == "remove"
    judged = allow_result(result.to_dict(), allowlist)
    assert (judged["decision"], judged["risk"], judged["matches"][0]["allowed"]) == (
        "keep",
        0.0,
        "document",
    )
    assert not evaluate([plain], policy).passed
    assert evaluate([judged], policy).passed


def test_the_gate_scans_with_the_allowlist(scanner, planted, tmp_path):
    policy = GatePolicy.from_dict({"corpora": {"gsm8k-test": {"zero_tolerance": True}}})
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "page-1", "text": planted}) + "\n", encoding="utf-8")
    match = only_match(scanner.scan(planted, doc_id="page-1"))
    allowlist = Allowlist((AllowEntry(match.corpus, match.ref_id, doc_id="page-1"),))

    assert not gate([docs], policy=policy, scanner=scanner)
    allowing = Scanner(scanner.index, settings=scanner.settings, allowlist=allowlist)
    assert gate([docs], policy=policy, scanner=allowing)


def test_a_bad_entry_names_its_file_and_line(tmp_path):
    path = tmp_path / "allow.jsonl"
    good = {"level": "document", "corpus": "c", "ref_id": "r", "doc_id": "d"}
    path.write_text(json.dumps(good) + "\n\n" + '{"level": "span", "corpus": "c"}\n')
    with pytest.raises(AllowlistError, match=r"allow\.jsonl:3: .*ref_id"):
        Allowlist.load(path)
    with pytest.raises(AllowlistError, match="not found"):
        Allowlist.load(tmp_path / "missing.jsonl")
    path.write_text(json.dumps(good) + "\n")
    assert Allowlist.load(path).entries == (AllowEntry("c", "r", doc_id="d"),)


def test_scan_shards_reports_allowed_matches_and_records_the_allowlist(
    scanner, planted, web_docs, small_index, tmp_path
):
    inputs = tmp_path / "in"
    inputs.mkdir()
    rows = [{"id": "page-1", "text": planted}, {"id": "page-2", "text": web_docs[304]}]
    pq.write_table(pa.Table.from_pylist(rows), inputs / "part.parquet")
    match = only_match(scanner.scan(planted, doc_id="page-1"))
    allowlist = Allowlist((AllowEntry(match.corpus, match.ref_id, doc_id="page-1"),), "a.jsonl")
    out = tmp_path / "out"
    settings = {"index": small_index, "out": out, "tiers": ("verbatim",), "workers": 1}
    run = scan_shards([inputs], **settings, progress=False, allowlist=allowlist)

    assert run.report["decisions"] == {"keep": 2, "review": 0, "remove": 0}
    [first] = [r.clearance for r in iter_output_records(out) if r.clearance["id"] == "page-1"]
    assert first["matches"][0]["allowed"] == "document" and first["decision"] == "keep"
    recorded = json.loads((out / "run.json").read_text(encoding="utf-8"))["allowlist"]
    assert recorded["entries"] == [allowlist.entries[0].to_dict()]
    with pytest.raises(ShardScanConfigError, match="allowlist"):
        scan_shards([inputs], **settings, progress=False, allowlist=Allowlist())
