"""The evaluation suites: ambiguous negatives are set apart, hand-written cases load."""

from __future__ import annotations

from indexer.corpus import ReferenceItem
from reference_corpora.suite import SuiteData, handwritten_suite, near_duplicates

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


def test_handwritten_cases_are_each_scanned_alone_and_hidden(data_root):
    cases = handwritten_suite(SuiteData.load(data_root))
    alone = [c for c in cases if c.category.endswith("-alone")]
    hidden = [c for c in cases if c.category.endswith("-hidden")]
    assert len(alone) == len(hidden) > 30
    for case in hidden:
        if case.positive:
            start, end = case.span
            assert case.text[start:end] in {c.text for c in alone}
    assert any(not c.positive for c in cases)
