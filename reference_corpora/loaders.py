"""Loaders for the benchmark formats users bring, each building items the way a model sees them.

A contaminated document rarely holds a test item in its storage format; it holds what a model
was shown or what a website rendered: the question with its choices and answer, the prompt with
its solution. Each loader builds that text, and keeps the item's own id where it has one.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from indexer.corpus import CorpusInputError, ReferenceItem, read_text_works
from indexer.item_structure import with_inferred_structure

Loader = Callable[[Path], list[ReferenceItem]]

LETTERS = "ABCDEFGHIJ"
# GSM8K solutions carry calculator annotations (<<16-3-4=9>>) that no rendering shows.
_CALCULATOR = re.compile(r"<<[^<>]*>>")


def _read_jsonl(path: Path) -> Iterator[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise CorpusInputError(f"{path}:{line_no}: not valid JSON ({exc.msg})") from exc


def multiple_choice(question: str, choices: list[str], answer: int | None) -> str:
    """Question, lettered choices and the answer, as evaluation harnesses prompt them."""
    lines = [question.strip()]
    lines += [f"{LETTERS[i]}. {choice.strip()}" for i, choice in enumerate(choices)]
    if answer is not None:
        lines.append(f"Answer: {LETTERS[answer]}")
    return "\n".join(lines)


def _prompted(
    item_id: str, prompt: str, rest: str, meta: dict, separator: str = "\n"
) -> ReferenceItem:
    """An item whose first ``prompt_end`` characters are what the model is asked.

    The indexer embeds that prompt on its own as well: reworded copies of a test item are
    mostly copies of its question.
    """
    return ReferenceItem(item_id, f"{prompt}{separator}{rest}", {**meta, "prompt_end": len(prompt)})


def _choice_item(
    item_id: str, question: str, choices: list[str], answer: int | None, meta: dict
) -> ReferenceItem:
    """Stem and choices are the prompt; the stem is marked too (``stem_end``).

    Scoring needs both: "Which of the following is true?" is only an item with its choices,
    and the same four choices under another stem are another item.
    """
    meta = {**meta, "stem_end": len(question.strip())}
    prompt = multiple_choice(question, choices, None)
    if answer is None:
        return ReferenceItem(item_id, prompt, meta)
    return _prompted(item_id, prompt, f"Answer: {LETTERS[answer]}", meta)


def load_gsm8k(path: Path) -> list[ReferenceItem]:
    items = []
    for i, row in enumerate(_read_jsonl(path)):
        question = row["question"].strip()
        solution = _CALCULATOR.sub("", row["answer"]).strip()
        answer = solution.split("####")[-1].strip()
        items.append(_prompted(str(i), question, solution, {"answer": answer}))
    return items


def load_humaneval(path: Path) -> list[ReferenceItem]:
    return [
        _prompted(
            row["task_id"],
            row["prompt"],
            row["canonical_solution"],
            {"entry_point": row["entry_point"]},
            separator="",
        )
        for row in _read_jsonl(path)
    ]


def load_mbpp(path: Path) -> list[ReferenceItem]:
    """Task text, the asserts it must pass, then the reference solution (MBPP's prompt order)."""
    items = []
    for row in _read_jsonl(path):
        description = row.get("text") or row.get("prompt", "")
        tests = "\n".join(row.get("test_list", []))
        prompt = f"{description.strip()}\n{tests}"
        items.append(_prompted(str(row["task_id"]), prompt, row["code"].strip(), {}))
    return items


def load_mmlu(path: Path) -> list[ReferenceItem]:
    """A folder of ``<subject>_test.csv`` (header ``question,choice0..3,answer``) or one CSV."""
    files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    items = []
    for file in files:
        subject = re.sub(r"_(test|dev|val)$", "", file.stem)
        with file.open(encoding="utf-8", newline="") as handle:
            for i, row in enumerate(csv.DictReader(handle)):
                choices = [row[f"choice{k}"] for k in range(4)]
                items.append(
                    _choice_item(
                        f"{subject}/{i}",
                        row["question"],
                        choices,
                        int(row["answer"]),
                        {"subject": subject},
                    )
                )
    return items


def load_truthfulqa(path: Path) -> list[ReferenceItem]:
    """The question alone: it is what TruthfulQA's generation task shows a model."""
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            ReferenceItem(
                str(i),
                row["Question"].strip(),
                {"category": row["Category"], "best_answer": row["Best Answer"]},
            )
            for i, row in enumerate(csv.DictReader(handle))
        ]


def load_hellaswag(path: Path) -> list[ReferenceItem]:
    """Context followed by the correct ending."""
    return [
        _prompted(
            str(row["ind"]),
            row["ctx"].strip(),
            row["endings"][int(row["label"])].strip(),
            {"activity": row.get("activity_label", "")},
            separator=" ",
        )
        for row in _read_jsonl(path)
    ]


def load_bbh(path: Path) -> list[ReferenceItem]:
    """A folder of BIG-Bench Hard task files; ids are ``<task>/<index>``."""
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    items = []
    for file in files:
        examples = json.loads(file.read_text(encoding="utf-8"))["examples"]
        for i, example in enumerate(examples):
            items.append(
                _prompted(
                    f"{file.stem}/{i}",
                    example["input"].strip(),
                    f"A: {example['target'].strip()}",
                    {"task": file.stem},
                )
            )
    return items


def load_math500(path: Path) -> list[ReferenceItem]:
    return [
        _prompted(
            row.get("unique_id", str(i)),
            row["problem"].strip(),
            row["solution"].strip(),
            {"answer": row.get("answer", ""), "subject": row.get("subject", "")},
        )
        for i, row in enumerate(_read_jsonl(path))
    ]


def load_openbookqa(path: Path) -> list[ReferenceItem]:
    items = []
    for row in _read_jsonl(path):
        choices = [c["text"] for c in row["question"]["choices"]]
        labels = [c["label"] for c in row["question"]["choices"]]
        answer = labels.index(row["answerKey"]) if row.get("answerKey") in labels else None
        items.append(_choice_item(row["id"], row["question"]["stem"], choices, answer, {}))
    return items


def load_works(path: Path) -> list[ReferenceItem]:
    """Plain-text works (Project Gutenberg boilerplate stripped), one per ``.txt`` file."""
    return read_text_works(path, name="works").items


def load_reference_jsonl(path: Path) -> list[ReferenceItem]:
    """Items of the generic ``{"id", "text", ...}`` format, whatever corpus they name; where
    ``meta`` lacks ``prompt_end``/``stem_end`` they are read from the text, as
    ``read_reference_jsonl`` does for benchmark items (the catalog's such corpora are)."""
    return [
        ReferenceItem(
            str(row["id"]), row["text"], with_inferred_structure(row.get("meta", {}), row["text"])
        )
        for row in _read_jsonl(path)
    ]


LOADERS: dict[str, Loader] = {
    "gsm8k": load_gsm8k,
    "humaneval": load_humaneval,
    "mbpp": load_mbpp,
    "mmlu": load_mmlu,
    "truthfulqa": load_truthfulqa,
    "hellaswag": load_hellaswag,
    "bbh": load_bbh,
    "math500": load_math500,
    "openbookqa": load_openbookqa,
    "works": load_works,
    "reference-jsonl": load_reference_jsonl,
}
