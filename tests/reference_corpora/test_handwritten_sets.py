"""The hand-written train, eval and styles rephrasings: each names a real item of the half its file
claims, none repeats the fixed benchmark set, and each rewords its item rather than copying it."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from indexer.corpus import ReferenceItem
from indexer.normalize import tokenize
from reference_corpora.suite import (
    HANDWRITTEN,
    HANDWRITTEN_EVAL,
    HANDWRITTEN_STYLES,
    HANDWRITTEN_TRAIN,
    MIN_ITEM_WORDS,
    SuiteData,
    handwritten_suite,
    in_part,
    read_handwritten,
)

SETS = {"train": HANDWRITTEN_TRAIN, "eval": HANDWRITTEN_EVAL, "styles": HANDWRITTEN_STYLES}
# The half of the corpora each set's items come from (``in_part``).
HALF = {"train": "train", "eval": "eval", "styles": "train"}
FIELDS = {"corpus", "ref_id", "label", "text"}
# A rewording keeps names, numbers and a doctest's values, so some runs of words survive; a
# copy keeps nearly all of them. Items too short for many 8-word runs are held to 4-word runs.
RUN, MAX_SHARED = 8, 0.4
SHORT_WORDS, SHORT_RUN, SHORT_MAX_SHARED = 16, 4, 0.6
# At least this many records per (corpus, label) in each file, so that every kind is covered.
MIN_PER_KIND = {"train": 10, "eval": 5, "styles": 5}


def shared_runs(text: str, item_text: str) -> float:
    """Share of ``text``'s word runs that occur in ``item_text`` (normalized words)."""
    words, theirs = tokenize(text).tokens, tokenize(item_text).tokens
    run = RUN if len(words) >= SHORT_WORDS else SHORT_RUN
    mine = [tuple(words[i : i + run]) for i in range(len(words) - run + 1)]
    other = {tuple(theirs[i : i + run]) for i in range(len(theirs) - run + 1)}
    return sum(r in other for r in mine) / len(mine) if mine else 1.0


def limit(text: str) -> float:
    return MAX_SHARED if len(tokenize(text).tokens) >= SHORT_WORDS else SHORT_MAX_SHARED


def item_of(data: SuiteData, record: dict) -> ReferenceItem | None:
    """The item a record rewords: of an indexed corpus (label 1) or a negative pool (label 0)."""
    corpus = record["corpus"]
    pool = data.corpora[corpus].items if record["label"] else data.negatives[corpus]
    return next((it for it in pool if it.id == record["ref_id"]), None)


@pytest.mark.parametrize("part", SETS)
def test_every_line_is_a_record_of_the_four_fields(part):
    lines = SETS[part].read_text(encoding="utf-8").splitlines()
    assert lines and all(line.strip() for line in lines)
    for number, line in enumerate(lines, start=1):
        record = json.loads(line)
        assert set(record) == FIELDS, f"{part}:{number}"
        assert record["label"] in (0, 1), f"{part}:{number}"
        assert isinstance(record["ref_id"], str) and record["ref_id"], f"{part}:{number}"
        assert isinstance(record["text"], str) and record["text"].strip(), f"{part}:{number}"


@pytest.mark.parametrize("part", SETS)
def test_every_record_rewords_a_real_item_of_its_half(part, suite_data):
    records = read_handwritten(SETS[part])
    for record in records:
        pools = suite_data.corpora if record["label"] else suite_data.negatives
        assert record["corpus"] in pools, record
        item = item_of(suite_data, record)
        assert item is not None, f"no item {record['corpus']}/{record['ref_id']}"
        half = HALF[part]
        assert in_part(item, half), f"{record['corpus']}/{record['ref_id']} is not in {half}"
        if record["label"]:
            assert len(tokenize(item.text).tokens) >= MIN_ITEM_WORDS
    kinds = Counter((r["corpus"], r["label"]) for r in records)
    expected = [(c, 1) for c in ("gsm8k-test", "humaneval", "mmlu-test", "truthfulqa")]
    expected += [(c, 0) for c in ("gsm8k-train", "mbpp", "mmlu-other")]
    assert all(kinds[kind] >= MIN_PER_KIND[part] for kind in expected), kinds


def test_no_item_is_reworded_twice_or_taken_from_the_fixed_set():
    fixed = {(r["corpus"], r["ref_id"]) for r in read_handwritten(HANDWRITTEN)}
    new = [(r["corpus"], r["ref_id"]) for path in SETS.values() for r in read_handwritten(path)]
    assert len(new) == len(set(new))
    assert not fixed & set(new)


@pytest.mark.parametrize("part", SETS)
def test_every_record_is_a_rewording_not_a_copy(part, suite_data):
    for record in read_handwritten(SETS[part]):
        item = item_of(suite_data, record)
        assert item is not None
        shared = shared_runs(record["text"], item.text)
        assert shared < limit(record["text"]), (record["corpus"], record["ref_id"], shared)


def test_the_copy_measure_flags_a_copied_item_and_passes_its_rewording(suite_data):
    record = next(r for r in read_handwritten(HANDWRITTEN_TRAIN) if r["corpus"] == "gsm8k-test")
    item = item_of(suite_data, record)
    assert item is not None
    prompt = item.text[: item.meta["prompt_end"]]
    assert shared_runs(" ".join(prompt.upper().split()), item.text) >= limit(prompt)
    assert shared_runs(record["text"], item.text) < limit(record["text"])


# The styles set writes choices as people do: "A." lines, "(a) ... (b)", numbered lines or
# "x / y / z / w", relabelled, reordered, sometimes without the answer line; it keeps all four
# options. The train and eval sets keep MMLU's own layout.
CHOICE_LABELS = ("ABCD", "abcd", "1234")


def four_choices(text: str) -> bool:
    labelled = any(
        all(re.search(rf"(?:^|[\s(]){label}[.)]\s", text, re.MULTILINE) for label in labels)
        for labels in CHOICE_LABELS
    )
    return labelled or any(line.count(" / ") == 3 for line in text.splitlines())


def _multiple_choice(part: str) -> list[dict]:
    return [r for r in read_handwritten(SETS[part]) if r["corpus"] in ("mmlu-test", "mmlu-other")]


@pytest.mark.parametrize("part", ["train", "eval"])
def test_multiple_choice_rewordings_keep_four_lettered_choices_and_an_answer(part):
    for record in _multiple_choice(part):
        lines = record["text"].splitlines()
        letters = [line[:3] for line in lines if line[:3] in ("A. ", "B. ", "C. ", "D. ")]
        assert letters == ["A. ", "B. ", "C. ", "D. "], record["ref_id"]
        assert lines[-1] in {f"Answer: {x}" for x in "ABCD"}, record["ref_id"]


def test_styles_multiple_choice_rewordings_keep_all_four_choices():
    records = _multiple_choice("styles")
    assert records
    for record in records:
        assert four_choices(record["text"]), record["ref_id"]


def test_four_choices_needs_every_option():
    assert four_choices("Which?\nA. one\nB. two\nC. three\nD. four\nAnswer: B")
    assert four_choices("Which? (a) one (b) two (c) three (d) four")
    assert four_choices("Which? Options: one / two / three / four. Answer: two")
    assert not four_choices("Which?\nA. one\nB. two\nC. three\nAnswer: B")
    assert not four_choices("Which? one / two / three")


def test_handwritten_negatives_are_reported_per_pool(suite_data):
    cases = handwritten_suite(suite_data, path=HANDWRITTEN_EVAL)
    negatives = {c.category for c in cases if not c.positive}
    assert negatives == {
        f"handwritten-{pool}-{how}"
        for pool in ("gsm8k-train", "mbpp", "mmlu-other")
        for how in ("alone", "hidden")
    }
    assert len({c.doc_id for c in cases}) == len(cases)
