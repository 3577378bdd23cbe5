"""Every corpus in the catalog loads from the real data, as a model would see its items."""

from __future__ import annotations

import pytest

from indexer.corpus import CorpusInputError, CorpusKind
from indexer.normalize import TextMode
from reference_corpora.catalog import read_catalog
from reference_corpora.loaders import multiple_choice

CATALOG = read_catalog()


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_each_catalog_corpus_loads_with_unique_ids_and_sane_offsets(name, data_root):
    corpus = CATALOG[name].load(data_root)
    assert corpus.items, name
    ids = [item.id for item in corpus.items]
    assert len(ids) == len(set(ids))
    for item in corpus.items:
        assert item.text.strip()
        for field in ("prompt_end", "stem_end"):
            end = item.meta.get(field)
            if end is not None:
                assert 0 < end <= len(item.text), (item.id, field)
                assert item.text[:end].strip()


def test_items_are_built_as_a_model_sees_them(data_root):
    gsm = CATALOG["gsm8k-test"].load(data_root).items[0]
    question = gsm.text[: gsm.meta["prompt_end"]]
    assert question.endswith("?") and "####" in gsm.text[gsm.meta["prompt_end"] :]

    human = CATALOG["humaneval"].load(data_root)
    assert human.mode is TextMode.CODE
    first = human.items[0]
    assert first.id == "HumanEval/0" and "def has_close_elements" in first.text
    assert "return" in first.text[first.meta["prompt_end"] :]  # the solution follows

    swag = CATALOG["hellaswag-val"].load(data_root).items[0]  # context, then the gold ending
    assert 0 < swag.meta["prompt_end"] < len(swag.text)

    for name in ("mmlu-test", "openbookqa-test"):
        item = CATALOG[name].load(data_root).items[0]
        assert "\nA. " in item.text and "\nAnswer: " in item.text, name
        assert (
            item.text[: item.meta["stem_end"]].strip()
            and "\nA. " not in (item.text[: item.meta["stem_end"]])
        )

    truthful = CATALOG["truthfulqa"].load(data_root)
    assert len(truthful.items) == 817
    for name in ("bbh", "math500", "mbpp"):
        assert len(CATALOG[name].load(data_root).items) > 100, name

    books = CATALOG["gutenberg"].load(data_root)
    assert books.kind is CorpusKind.COPYRIGHT
    assert all("*** START OF" not in b.text[:2000] for b in books.items)


def test_multiple_choice_letters_choices_and_answer():
    text = multiple_choice("Which is a gas? ", ["iron", " helium"], 1)
    assert text == "Which is a gas?\nA. iron\nB. helium\nAnswer: B"


def test_a_missing_data_folder_says_how_to_point_at_it(tmp_path):
    with pytest.raises(CorpusInputError, match="CLEARANCE_DATA_DIR"):
        CATALOG["gsm8k-test"].load(tmp_path)
