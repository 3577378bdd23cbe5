"""The evaluation suites: ambiguous negatives are set apart, hand-written cases load, the
halves used to fit and to evaluate stay apart."""

from __future__ import annotations

from indexer.corpus import ReferenceItem
from reference_corpora.suite import (
    calibration_suite,
    handwritten_suite,
    in_part,
    near_duplicates,
    whole_negative_sets,
)

SCENARIO = (
    "A farmer agreed in a signed writing to deliver a specified quantity of mushrooms to a chef "
    "at a local restaurant on March 1 at a specified price."
)


def _mc(item_id: str, text: str) -> ReferenceItem:
    return ReferenceItem(item_id, text, {"subject": "law", "prompt_end": len(text)})


def test_questions_sharing_a_scenario_or_near_copies_are_near_duplicates():
    indexed = [_mc("law/0", SCENARIO + " Is the contract enforceable?")]
    candidates = [
        _mc("law/1", SCENARIO + " Which defense is the farmer's best?"),  # same scenario
        _mc("law/3", "A chef agreed to buy mushrooms. Is the contract enforceable?"),  # other
        _mc("law/5", SCENARIO.replace("March 1", "April 2") + " Is it enforceable?"),  # near
    ]
    assert near_duplicates(candidates, indexed) == {"law/1", "law/5"}


def test_handwritten_cases_are_each_scanned_alone_and_hidden(suite_data):
    cases = handwritten_suite(suite_data)
    alone = [c for c in cases if c.category.endswith("-alone")]
    hidden = [c for c in cases if c.category.endswith("-hidden")]
    assert len(alone) == len(hidden) > 30
    for case in hidden:
        if case.positive:
            start, end = case.span
            assert case.text[start:end] in {c.text for c in alone}
    assert any(not c.positive for c in cases)


def test_whole_negative_sets_hold_every_eval_item_once_and_calibration_the_train_half(
    suite_data,
):
    data = suite_data
    whole = whole_negative_sets(data)
    mbpp = [it for it in data.negatives["mbpp"] if in_part(it, "eval")]
    assert sum(c.category == "every-mbpp" for c in whole) == len(mbpp) > 400
    assert sum(c.category == "every-clean-web" for c in whole) == len(data.clean_web)
    assert all(not c.positive for c in whole)
    assert len({c.doc_id for c in whole}) == len(whole)
    # Each eval MBPP program is in its page; no train-half program is among them.
    pages = [c.text for c in whole if c.category == "every-mbpp"]
    assert all(it.text in page for it, page in zip(mbpp, pages, strict=True))
    calibration = calibration_suite(data)
    for category in ("mbpp", "mmlu-other", "gsm8k-train"):
        train = [it for it in data.negatives[category] if in_part(it, "train")]
        assert sum(c.category == f"calibration-{category}" for c in calibration) == len(train)
    assert all(not c.positive for c in calibration)
    assert not any(it.text in c.text for it in mbpp[:50] for c in calibration)
