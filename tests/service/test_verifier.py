"""The verifier's code signal on real HumanEval and MBPP programs."""

from __future__ import annotations

import random

import numpy as np

from indexer.manifest import IndexSettings
from indexer.normalize import TextMode
from reference_corpora import transforms as T
from service.verifier import MIN_ITEM_SHAPE_TOKENS, ReferenceView, item_shape, item_structure
from tests.conftest import catalog_corpus


def _view(code: str) -> ReferenceView:
    return ReferenceView.of(code[:200], TextMode.CODE, IndexSettings(), item_text=code)


def test_item_shape_ignores_names_docstrings_comments_and_strings():
    original = 'def area(w, h):\n    """Area of a w by h box."""\n    # easy\n    return w * h\n'
    renamed = "def size_3(a_1, b_2):\n    '''How big the rectangle is.'''\n    return a_1 * b_2\n"
    assert item_shape(original) == item_shape(renamed)
    assert item_shape(original) != item_shape("def area(w, h):\n    return w + h\n")


def test_renamed_humaneval_keeps_its_whole_shape_mbpp_programs_do_not(data_root, web_docs):
    humaneval = catalog_corpus("humaneval", data_root).items
    mbpp = catalog_corpus("mbpp", data_root).items[:200]
    rng = random.Random(5)
    for item in humaneval[:30]:
        copy = T.reword_docstring(T.rename_identifiers(item.text, rng), rng)
        page = web_docs[0][:1500] + "\n\n" + copy + "\n\n" + web_docs[1][:1500]
        assert copy != item.text
        # Scaled down only for programs too short for their shape to count fully.
        weight = min(1.0, len(item_shape(item.text).split()) / MIN_ITEM_SHAPE_TOKENS)
        assert item_structure(_view(item.text), page) >= 0.95 * weight, item.id
    # The best any MBPP program reaches against these HumanEval items stays well apart.
    views = [_view(item.text) for item in humaneval[:30]]
    best = [max(item_structure(view, program.text) for view in views) for program in mbpp]
    assert np.percentile(best, 99) < 0.9


def test_prose_references_have_no_item_structure():
    view = ReferenceView.of("Natalia sold clips to 48 friends.", TextMode.PROSE, IndexSettings())
    assert view.item_shape == "" and item_structure(view, "def f(x):\n    return x\n") == 0.0
