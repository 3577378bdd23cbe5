"""Each gate rule, passing and failing, on the real scan results of the shared test shard."""

from __future__ import annotations

import pytest

from service.gate.evaluate import evaluate
from service.gate.policy import GatePolicy

SCANNED = 60


def judge(results, **policy):
    return evaluate(results, GatePolicy.from_dict(policy))


def test_counts_documents_by_decision(gate_results):
    verdict = judge(gate_results)
    counts = verdict.counts
    assert (counts.scanned, counts.rejected) == (SCANNED, 0)
    assert (counts.keep, counts.review, counts.remove) == (57, 1, 2)
    # No rules beyond the rejected-records default: the set passes.
    assert verdict.passed and [r.rule for r in verdict.rules] == ["max_rejected_share"]


def test_overall_flagged_share_counts_review_and_remove_by_default(gate_results):
    # c4-110, c4-120, c4-140 are flagged: 3 of 60 = 5 %.
    ok = judge(gate_results, overall={"max_flagged_share": 0.05})
    bad = judge(gate_results, overall={"max_flagged_share": 0.04})

    assert ok.passed and ok.rule("overall.max_flagged_share").observed == pytest.approx(3 / SCANNED)
    assert not bad.passed
    failed = bad.rule("overall.max_flagged_share")
    assert not failed.passed and failed.limit == 0.04
    assert {e.id for e in failed.examples} == {"c4-110", "c4-120", "c4-140"}
    assert "3 of 60 documents at review or remove" in failed.detail


def test_flagged_remove_counts_only_remove_decisions(gate_results):
    verdict = judge(gate_results, flagged="remove", overall={"max_flagged_share": 0.04})
    outcome = verdict.rule("overall.max_flagged_share")
    assert verdict.passed and outcome.observed == pytest.approx(2 / SCANNED)
    assert "at remove" in outcome.detail


def test_kind_flagged_share_sees_only_that_kinds_matches(gate_results):
    verdict = judge(
        gate_results,
        kinds={"benchmark": {"max_flagged_share": 0.0}, "copyright": {"max_flagged_share": 0.02}},
    )
    benchmark = verdict.rule("kinds.benchmark.max_flagged_share")
    copyright_ = verdict.rule("kinds.copyright.max_flagged_share")

    assert not benchmark.passed and benchmark.observed == pytest.approx(2 / SCANNED)
    # Riskiest first: the whole item before the 12-word fragment; the book page is not here.
    assert [e.id for e in benchmark.examples] == ["c4-110", "c4-120"]
    assert benchmark.examples[0].ref.startswith("gsm8k-test/")
    assert copyright_.passed and copyright_.observed == pytest.approx(1 / SCANNED)
    assert verdict.failures == (benchmark,)


def test_scope_can_override_what_counts_as_flagged(gate_results):
    verdict = judge(
        gate_results, kinds={"benchmark": {"max_flagged_share": 0.02, "flagged": "remove"}}
    )
    assert verdict.passed
    assert verdict.rule("kinds.benchmark.max_flagged_share").observed == pytest.approx(1 / SCANNED)


def test_max_risk_passes_at_the_limit_and_fails_above_it(gate_results):
    at_limit = judge(gate_results, kinds={"copyright": {"max_risk": 1.0}})
    below = judge(gate_results, kinds={"copyright": {"max_risk": 0.9}})

    assert at_limit.passed and at_limit.rule("kinds.copyright.max_risk").observed == 1.0
    failed = below.rule("kinds.copyright.max_risk")
    assert not failed.passed
    assert [e.id for e in failed.examples] == ["c4-140"]
    assert failed.examples[0].ref.startswith("books/")


def test_max_risk_of_a_corpus_ignores_other_corpora(gate_results):
    clean = judge(gate_results, corpora={"mmlu-test": {"max_risk": 0.0}})
    outcome = clean.rule("corpora.mmlu-test.max_risk")
    assert clean.passed and outcome.observed == 0.0 and outcome.detail == "no matches"


def test_zero_tolerance_fails_on_a_match_the_scanner_would_keep(gate_results):
    # Only the 6-word fragment (decision keep) plus clean pages: nothing is flagged.
    only_keep_hit = [r for r in gate_results if r["id"] not in ("c4-110", "c4-120", "c4-140")]
    policy = {"corpora": {"gsm8k-test": {"zero_tolerance": True, "max_flagged_share": 0.0}}}
    verdict = judge(only_keep_hit, **policy)

    assert verdict.rule("corpora.gsm8k-test.max_flagged_share").passed
    zero = verdict.rule("corpora.gsm8k-test.zero_tolerance")
    assert not zero.passed and zero.observed == 1
    assert [(e.id, e.decision) for e in zero.examples] == [("c4-130", "keep")]
    assert not verdict.passed


def test_zero_tolerance_min_risk_sets_which_matches_count(gate_results):
    weak = next(r for r in gate_results if r["id"] == "c4-130")["risk"]
    only_keep_hit = [r for r in gate_results if r["id"] not in ("c4-110", "c4-120", "c4-140")]

    def zero_tolerance(floor: float):
        rules = {"zero_tolerance": True, "zero_tolerance_min_risk": floor}
        return judge(only_keep_hit, corpora={"gsm8k-test": rules}).rule(
            "corpora.gsm8k-test.zero_tolerance"
        )

    assert not zero_tolerance(weak).passed  # inclusive: a match at the floor counts
    above = zero_tolerance(round(weak + 0.01, 4))
    assert above.passed and above.observed == 0
    assert f"risk >= {round(weak + 0.01, 4):g}" in above.detail


def test_zero_tolerance_passes_for_a_corpus_nothing_matched(gate_results):
    verdict = judge(
        gate_results,
        corpora={"truthfulqa": {"zero_tolerance": True}, "gsm8k-test": {"zero_tolerance": True}},
    )
    assert verdict.rule("corpora.truthfulqa.zero_tolerance").passed
    assert verdict.rule("corpora.gsm8k-test.zero_tolerance").observed == 3
    assert [r.rule for r in verdict.failures] == ["corpora.gsm8k-test.zero_tolerance"]


def test_rejected_records_fail_by_default_and_pass_under_a_raised_limit(gate_results):
    rejected = {"id": "broken-1", "decision": None, "error": "field 'text' is not a string"}
    with_reject = [*gate_results, rejected]

    strict = judge(with_reject)
    lenient = judge(with_reject, max_rejected_share=0.02)

    outcome = strict.rule("max_rejected_share")
    assert not strict.passed and outcome.observed == pytest.approx(1 / 61)
    assert outcome.examples[0].id == "broken-1" and "not a string" in outcome.examples[0].error
    assert lenient.passed
    assert lenient.counts.rejected == 1 and lenient.counts.total == 61


def test_verdict_report_lists_failed_rules_and_is_falsy_on_failure(gate_results):
    verdict = judge(
        gate_results,
        kinds={"benchmark": {"max_risk": 0.8}},
        corpora={"gsm8k-test": {"zero_tolerance": True}},
    )
    report = verdict.to_dict()

    assert not verdict
    assert report["passed"] is False
    assert report["failed_rules"] == [
        "kinds.benchmark.max_risk",
        "corpora.gsm8k-test.zero_tolerance",
    ]
    assert report["documents"]["remove"] == 2
    assert report["rules"][1]["examples"][0]["id"] == "c4-110"
