"""Item structure read from plain text (indexer/item_structure.py), on real benchmark items.

The catalog's loaders know each benchmark's fields and set ``prompt_end``, ``stem_end`` and the
mode; a user's ``{id, text}`` file has only the text those loaders produce. These tests hold the
inference to the loaders' answers, check that what the user says wins, and index the same
benchmark both ways to see the same decisions come out.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from indexer.build import build_index
from indexer.corpus import Corpus, CorpusKind, ReferenceItem, read_reference_jsonl
from indexer.item_structure import infer_mode, infer_structure, with_inferred_structure
from indexer.normalize import TextMode, tokenize
from reference_corpora import transforms as T
from reference_corpora.suite import hide, read_handwritten
from service.scanner import Scanner, ScanSettings
from tests.conftest import catalog_corpus


def _write_plain(path: Path, corpora: list[Corpus]) -> Path:
    """The corpora as a user gives them: id, text, corpus and kind; no meta, no mode."""
    with path.open("w", encoding="utf-8") as handle:
        for corpus in corpora:
            for item in corpus.items:
                row = {"id": item.id, "text": item.text, "corpus": corpus.name, "kind": "benchmark"}
                handle.write(json.dumps(row) + "\n")
    return path


def _agreement(items: list[ReferenceItem]) -> tuple[float, float]:
    """Shares of items whose inferred prompt_end and stem_end equal the loader's."""
    inferred = [infer_structure(item.text) for item in items]
    prompts = sum(
        s.prompt_end == it.meta.get("prompt_end") for s, it in zip(inferred, items, strict=True)
    )
    stems = sum(
        s.stem_end == it.meta.get("stem_end") for s, it in zip(inferred, items, strict=True)
    )
    return prompts / len(items), stems / len(items)


# (catalog corpus, items, least share of exact prompt_end / stem_end agreement). The shares
# measured on every item are in BENCHMARKS.md; these are the first items of each file.
FORMATS = [
    ("gsm8k-test", 400, 1.0, 1.0),  # question, worked solution, "#### 18"
    ("humaneval", 164, 1.0, 1.0),  # signature and docstring, then the body
    ("mmlu-test", 600, 1.0, 1.0),  # stem, "A. ..." choices (some over several lines), answer
    ("openbookqa-test", 300, 1.0, 1.0),
    ("truthfulqa", 400, 1.0, 1.0),  # a single question: no prompt
    ("math500", 200, 0.95, 1.0),  # LaTeX problems over several lines, figures, \boxed
]


@pytest.mark.parametrize(("name", "limit", "prompts", "stems"), FORMATS)
def test_inference_agrees_with_the_loader_on_real_items(data_root, name, limit, prompts, stems):
    corpus = catalog_corpus(name, data_root, limit=limit)
    prompt_share, stem_share = _agreement(corpus.items)
    assert prompt_share >= prompts and stem_share >= stems, (prompt_share, stem_share)
    assert infer_mode(it.text for it in corpus.items) is corpus.mode


def test_mbpp_prompt_is_the_task_and_its_asserts_before_the_program(data_root):
    corpus = catalog_corpus("mbpp", data_root, limit=300)
    assert infer_mode(it.text for it in corpus.items) is TextMode.CODE
    for item in corpus.items:
        inferred = infer_structure(item.text)
        # MBPP's programs end lines with "\r\n": the loader's prompt may keep a "\r".
        assert inferred.prompt_end == len(item.text[: item.meta["prompt_end"]].rstrip())
        assert item.text[: inferred.prompt_end].rstrip().splitlines()[-1].startswith("assert")


def test_bbh_answer_line_ends_the_prompt_and_options_end_the_stem(data_root):
    corpus = catalog_corpus("bbh", data_root)
    assert all(infer_structure(it.text).prompt_end == it.meta["prompt_end"] for it in corpus.items)
    with_options = [it for it in corpus.items if "\nOptions:\n" in it.text]
    # The loader marks no stem for BIG-Bench; the inference ends it before "Options:" (not
    # for the few items with one option left: "Options:\n(A) The NB\nA: (A)").
    before = [
        infer_structure(it.text).stem_end == it.text.index("\nOptions:\n") for it in with_options
    ]
    assert len(with_options) > 1000 and sum(before) >= 0.99 * len(with_options)


def test_hellaswag_context_is_the_prompt_up_to_its_last_sentence(data_root):
    corpus = catalog_corpus("hellaswag-val", data_root, limit=300)
    close = past = 0
    for item in corpus.items:
        end = infer_structure(item.text).prompt_end
        if end is None:
            continue
        # HellaSwag's ending continues a sentence the context began ("... the woman" +
        # "finishes her playing"); the text shows only where the last sentence starts. A
        # WikiHow ending of several sentences puts that start inside the ending.
        past += end > item.meta["prompt_end"]
        close += len(tokenize(item.text[end : item.meta["prompt_end"]])) <= 3
    assert close >= 0.6 * len(corpus.items) and past <= 0.1 * len(corpus.items), (close, past)


def test_a_question_given_without_its_solution_has_no_prompt(data_root):
    for name in ("gsm8k-test", "humaneval", "math500"):
        for item in catalog_corpus(name, data_root, limit=150).items:
            question = item.text[: item.meta["prompt_end"]]
            assert infer_structure(question).prompt_end is None, (name, item.id)


def test_user_meta_and_mode_win_over_inference(tmp_path, data_root):
    gsm = catalog_corpus("gsm8k-test", data_root, limit=3).items
    code = catalog_corpus("humaneval", data_root, limit=3).items
    mmlu = catalog_corpus("mmlu-test", data_root, limit=1).items[0]
    rows = [
        {"id": "given", "text": gsm[0].text, "meta": {"prompt_end": 20, "source": "x"}},
        {"id": "none", "text": gsm[1].text, "meta": {"prompt_end": None}},
        {"id": "plain", "text": gsm[2].text},
        # A stem given alone: the prompt is still read from the text.
        {"id": "stem", "text": mmlu.text, "meta": {"stem_end": 10}},
        # A stem after the given prompt would contradict it: not inferred.
        {"id": "short", "text": mmlu.text, "meta": {"prompt_end": 5}},
    ]
    rows = [{**row, "corpus": "quiz", "kind": "benchmark"} for row in rows]
    rows += [
        {"id": it.id, "text": it.text, "corpus": "code", "kind": "benchmark", "mode": "prose"}
        if n == 1
        else {"id": it.id, "text": it.text, "corpus": "code", "kind": "benchmark"}
        for n, it in enumerate(code)
    ]
    path = tmp_path / "refs.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    quiz, programs = read_reference_jsonl(path)
    meta = {item.id: dict(item.meta) for item in quiz.items}
    assert meta["given"] == {"prompt_end": 20, "source": "x"}
    assert meta["none"] == {"prompt_end": None}
    assert meta["plain"] == {"prompt_end": gsm[2].meta["prompt_end"]}
    assert meta["stem"] == {"stem_end": 10, "prompt_end": mmlu.meta["prompt_end"]}
    assert meta["short"] == {"prompt_end": 5}
    assert quiz.mode is TextMode.PROSE
    # One record says prose: the corpus is prose, though all three items read as code.
    assert programs.mode is TextMode.PROSE
    assert [dict(it.meta) for it in programs.items] == [
        {"prompt_end": it.meta["prompt_end"]} for it in code
    ]


def test_works_get_no_prompt_but_a_mode(tmp_path, data_root):
    """A work's key is the whole work: a line ending in "?" inside a novel is no prompt."""
    book = (data_root / "books" / "books_11-0.txt").read_text(encoding="utf-8-sig")
    passage = book[book.index("CHAPTER I.") :][:3000]
    # As a benchmark item, its last line ending in a question would end a prompt.
    assert infer_structure(passage).prompt_end is not None
    program = catalog_corpus("humaneval", data_root, limit=1).items[0].text
    path = tmp_path / "works.jsonl"
    rows = [
        {"id": "alice", "text": passage, "corpus": "novels", "kind": "copyright"},
        {"id": "prog", "text": program, "corpus": "source", "kind": "copyright"},
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    novels, source = read_reference_jsonl(path)
    assert dict(novels.items[0].meta) == {} and novels.mode is TextMode.PROSE
    assert dict(source.items[0].meta) == {} and source.mode is TextMode.CODE


def test_with_inferred_structure_fills_only_what_is_missing(data_root):
    item = catalog_corpus("mmlu-test", data_root, limit=1).items[0]
    assert with_inferred_structure({}, item.text) == {
        "prompt_end": item.meta["prompt_end"],
        "stem_end": item.meta["stem_end"],
    }
    given = {"prompt_end": 7, "stem_end": 3}
    assert with_inferred_structure(given, item.text) == given


# --- the same benchmark indexed both ways ---------------------------------------------------


@pytest.fixture(scope="module")
def both_ways(tmp_path_factory, data_root: Path, embedder) -> tuple[Path, list[str]]:
    """A GSM8K + HumanEval sample indexed from the loaders and from a plain {id, text} file,
    and the reworded questions to scan: hand-written rephrasings of its items, generated
    rewordings, and questions copied without their solutions."""
    handwritten = [r for r in read_handwritten() if r["label"] and r["corpus"] != "mmlu-test"]
    wanted = {(r["corpus"], r["ref_id"]) for r in handwritten}
    corpora = []
    for name, others in (("gsm8k-test", 6), ("humaneval", 3)):
        corpus = catalog_corpus(name, data_root)
        mine = [it for it in corpus.items if (name, it.id) in wanted]
        rest = [it for it in corpus.items if (name, it.id) not in wanted]
        items = mine + random.Random(0).sample(rest, others)
        corpora.append(Corpus(name, CorpusKind.BENCHMARK, items, mode=corpus.mode))
    root = tmp_path_factory.mktemp("both-ways")
    plain = read_reference_jsonl(_write_plain(root / "plain.jsonl", corpora))
    assert [(c.name, c.mode) for c in plain] == [(c.name, c.mode) for c in corpora]
    build_index(root / "loaders", corpora)
    build_index(root / "plain", plain)

    rng = random.Random(5)
    docs = [r["text"] for r in handwritten]
    for item in corpora[0].items[:4]:
        question = item.text[: item.meta["prompt_end"]]
        docs += [question, T.swap_vocabulary(T.rename_people(question, rng), rng)]
    for item in corpora[1].items[:2]:
        docs.append(T.reword_docstring(T.rename_identifiers(item.text, rng), rng))
    web = [json.loads(line)["text"] for line in (data_root / "web" / "c4_sample_1000.jsonl").open()]
    docs = [hide(doc, web[600 + n], random.Random(n))[0] for n, doc in enumerate(docs)]
    return root, docs


def _outcomes(scanner: Scanner, docs: list[str]) -> list[tuple]:
    return [
        (r.decision.value, sorted((m.corpus, m.ref_id, m.decision.value) for m in r.matches))
        for r in scanner.scan_many(docs)
    ]


@pytest.mark.parametrize("tiers", [("verbatim", "paraphrase"), ("verbatim",)])
def test_plain_jsonl_and_loader_indexes_decide_alike(both_ways, embedder, tiers):
    root, docs = both_ways
    settings = ScanSettings(tiers=tiers)
    by_loaders, by_plain = (
        _outcomes(Scanner.load(root / name, settings=settings, embedder=embedder), docs)
        for name in ("loaders", "plain")
    )
    assert sum(decision != "keep" for decision, _ in by_loaders) >= len(docs) // 3
    assert by_plain == by_loaders
