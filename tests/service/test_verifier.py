"""The verifier's code signals on real HumanEval and MBPP programs."""

from __future__ import annotations

import random

import numpy as np

from indexer.manifest import IndexSettings
from indexer.normalize import TextMode
from reference_corpora import transforms as T
from service.code_shape import MIN_ITEM_SHAPE_TOKENS, item_shape
from service.verifier import ReferenceView, example_mass, example_values, item_structure
from tests.conftest import catalog_corpus


def _view(code: str) -> ReferenceView:
    return ReferenceView.of(code[:200], TextMode.CODE, IndexSettings(), item_text=code)


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


def test_docstring_examples_are_read_as_values():
    code = (
        'def f(n):\n    """Don\'t worry: f(15) returns \'db1111db\', f(2.5) is "Two words"."""\n'
        "    return n  # 99 is not in a docstring\n"
    )
    assert example_values(code) == {"15", "db1111db", "2", "5", "two", "words"}


def test_a_same_task_mbpp_program_lacks_the_items_examples(data_root):
    """HumanEval/79 and /156 against MBPP's own decimal-to-binary and int-to-roman programs:
    same task, other examples. A renamed copy with a reworded docstring keeps them all."""
    humaneval = {it.id: it for it in catalog_corpus("humaneval", data_root).items}
    mbpp = {it.id: it for it in catalog_corpus("mbpp", data_root).items}
    rng = random.Random(2)
    for ref_id, program_id in (("HumanEval/79", "33"), ("HumanEval/156", "958")):
        view = _view(humaneval[ref_id].text)
        assert example_mass(view, mbpp[program_id].text) < 0.35, (ref_id, program_id)
        copy = T.reword_docstring(T.rename_identifiers(humaneval[ref_id].text, rng), rng)
        assert example_mass(view, copy) == 1.0
    # Single digits, which every program has, weigh next to nothing.
    trivial = _view('def f(x):\n    """f([1, 2, 3]) == True"""\n    return x\n')
    assert trivial.examples == (("1", 0.3), ("2", 0.3), ("3", 0.3))
    assert example_mass(trivial, "assert g([1, 2, 3]) == True") < 0.2


def test_prose_and_programs_without_examples_are_neutral():
    prose = ReferenceView.of("Natalia sold 48 clips.", TextMode.PROSE, IndexSettings())
    bare = _view("def f(x):\n    return x * 2\n")
    assert example_mass(prose, "nothing alike") == example_mass(bare, "nothing alike") == 1.0


def test_examples_count_only_near_the_aligned_text(data_root, web_docs):
    """A "15" and a "32" elsewhere in a long page are no examples of HumanEval/79."""
    item = next(
        it for it in catalog_corpus("humaneval", data_root).items if it.id == "HumanEval/79"
    )
    view = _view(item.text)
    program = "def to_bin(n):\n    return bin(n)[2:]\n"
    far = program + "\n" + "x " * 3000 + "In 15 years and 32 days: db, db1111db, db100000db."
    assert example_mass(view, far, 0, len(program)) < 0.2
    near = program + "\nto_bin(15) gives db1111db, to_bin(32) gives db100000db\n" + "x " * 3000
    assert example_mass(view, near, 0, len(program)) == 1.0
