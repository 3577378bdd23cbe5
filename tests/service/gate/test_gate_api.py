"""``gate()``: scanning and re-reading results give the same verdict; errors are typed."""

from __future__ import annotations

import json

import pytest

from indexer.manifest import ClearanceIndexError
from service.gate import GateInputError, GatePolicy, GatePolicyError, evaluate, gate

POLICY = GatePolicy.from_dict(
    {
        "kinds": {
            "benchmark": {"max_flagged_share": 0.0, "max_risk": 0.8},
            "copyright": {"max_flagged_share": 0.05},
        },
        "corpora": {"gsm8k-test": {"zero_tolerance": True}, "mmlu-test": {"zero_tolerance": True}},
    }
)
FAILED = [
    "kinds.benchmark.max_flagged_share",
    "kinds.benchmark.max_risk",
    "corpora.gsm8k-test.zero_tolerance",
]


def rules_of(verdict):
    return [r.to_dict() for r in verdict.rules]


def test_gate_scans_inputs_and_agrees_with_the_scanner(small_index, docs_jsonl, gate_results):
    verdict = gate([docs_jsonl], index=small_index, policy=POLICY, tiers=("verbatim",))

    assert not verdict.passed
    assert [r.rule for r in verdict.failures] == FAILED
    assert rules_of(verdict) == rules_of(evaluate(gate_results, POLICY))
    assert verdict.sources == (str(docs_jsonl),) and verdict.tiers == ("verbatim",)
    assert verdict.counts.scanned == 60


def test_gate_passes_a_set_within_the_policy(small_index, docs_jsonl):
    lenient = GatePolicy.from_dict(
        {"overall": {"max_flagged_share": 0.05}, "corpora": {"mmlu-test": {"zero_tolerance": True}}}
    )
    verdict = gate([docs_jsonl.parent], index=small_index, policy=lenient, tiers=("verbatim",))
    assert verdict.passed and verdict.failures == ()
    assert verdict.counts.scanned == 60  # the folder stands for its JSONL file


def test_gate_from_scan_results_matches_a_fresh_scan(
    small_index, scan_results_jsonl, docs_with_reject_jsonl
):
    scanned = gate([docs_with_reject_jsonl], index=small_index, policy=POLICY, tiers=("verbatim",))
    reread = gate(results=[scan_results_jsonl], policy=POLICY)

    assert reread.counts == scanned.counts and reread.counts.rejected == 1
    assert rules_of(reread) == rules_of(scanned)
    assert reread.failures[0].rule == "max_rejected_share"
    assert reread.tiers is None  # a results file does not say how it was scanned


def test_results_out_saves_what_a_later_gate_can_reread(small_index, docs_jsonl, tmp_path):
    saved = tmp_path / "saved" / "results.jsonl"
    first = gate(
        [docs_jsonl], index=small_index, policy=POLICY, tiers=("verbatim",), results_out=saved
    )
    lines = saved.read_text(encoding="utf-8").splitlines()
    again = gate(results=[saved], policy=POLICY, index=small_index)

    assert len(lines) == 60 and json.loads(lines[0])["id"] == "c4-100"
    assert rules_of(again) == rules_of(first)


def test_policy_naming_a_corpus_the_index_lacks_is_an_error(small_index, docs_jsonl, tmp_path):
    policy = tmp_path / "gate.toml"
    policy.write_text('[corpora."gsm8k-tset"]\nzero_tolerance = true\n', encoding="utf-8")

    with pytest.raises(GatePolicyError, match=r"gate.toml:1: .*no corpus 'gsm8k-tset'"):
        gate([docs_jsonl], index=small_index, policy=policy, tiers=("verbatim",))


def test_missing_input_empty_input_and_missing_index_are_errors(small_index, tmp_path):
    with pytest.raises(GateInputError, match="does not exist"):
        gate([tmp_path / "absent.jsonl"], index=small_index, policy=POLICY, tiers=("verbatim",))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(GateInputError, match="nothing to gate"):
        gate([empty], index=small_index, policy=POLICY, tiers=("verbatim",))
    with pytest.raises(ClearanceIndexError, match="not a Clearance index"):
        gate([empty], index=tmp_path, policy=POLICY, tiers=("verbatim",))


def test_inputs_and_results_are_exclusive(docs_jsonl, scan_results_jsonl):
    with pytest.raises(ValueError, match="not both"):
        gate([docs_jsonl], results=[scan_results_jsonl], policy=POLICY)
    with pytest.raises(ValueError, match="needs an index"):
        gate([docs_jsonl], policy=POLICY)
