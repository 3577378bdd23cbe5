"""Item structure read from plain text: agreement with what the catalog's loaders set.

Each catalog benchmark is loaded by its loader, which knows the benchmark's fields and sets
``prompt_end``, ``stem_end`` and the corpus mode. The same items, given as plain ``{id, text}``
(the loader's text, nothing else), go through ``indexer.item_structure``. For each benchmark:
the share of items whose inferred offsets equal the loader's (both absent counts as equal),
exactly and within a few characters; the share whose index content (passages, scoring key
and stem, in the inferred corpus mode) is the same as the loader's item's, with inference and
without it (the plain item as it was indexed before); the share of items whose own text reads
as the corpus's mode, and the mode inferred for the whole corpus. "(question)" rows give each
item's prompt alone, as sets of questions without solutions come: no prompt is expected.

    python -m benchmarks.item_structure
    python -m benchmarks.item_structure --show 3     # a few disagreements per benchmark
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

from benchmarks._common import git_revision, machine
from indexer.build_parts import item_passages, item_stats
from indexer.corpus import ReferenceItem
from indexer.item_structure import (
    ItemStructure,
    infer_mode,
    infer_structure,
    looks_like_code,
    with_inferred_structure,
)
from indexer.manifest import IndexSettings
from indexer.normalize import TextMode, tokenize
from reference_corpora.catalog import read_catalog

BENCHMARKS = (
    "gsm8k-test",
    "humaneval",
    "mbpp",
    "mmlu-test",
    "truthfulqa",
    "hellaswag-val",
    "bbh",
    "math500",
    "openbookqa-test",
    "demo-quiz",
)
# Their prompts alone, as sets of questions without solutions come.
QUESTIONS_ONLY = ("gsm8k-test", "humaneval", "mmlu-test", "math500", "bbh")
# "Within a few characters": an offset on the other side of a line break or a space.
TOLERANCE = 3


@dataclass(frozen=True)
class Agreement:
    name: str
    items: int
    prompt_exact: int
    prompt_near: int
    stem_exact: int
    stem_near: int
    same_index: int  # items with the same passages, scoring key and stem in the index
    same_before: int  # the same, for the plain item indexed without inference (as before)
    item_mode: int  # items whose own text reads as the corpus's mode
    loader_mode: TextMode
    inferred_mode: TextMode
    misses: tuple[tuple[str, str], ...]  # (item id, what differs)


def _near(a: int | None, b: int | None, tolerance: int) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= tolerance


def _indexed_as(item: ReferenceItem, mode: TextMode, settings: IndexSettings) -> tuple:
    """What the index holds for an item that depends on its structure: its passages, and the
    token lengths of its scoring key and stem."""
    tokens = tokenize(item.text, mode, settings.normalization)
    _, _, key, _, stem = item_stats(item, tokens, settings)
    return tuple(item_passages(item, tokens, settings)), key, stem


def agreement(
    name: str, items: list[ReferenceItem], mode: TextMode, tolerance: int = TOLERANCE
) -> Agreement:
    """Compare the loader's ``prompt_end``/``stem_end``/mode with those read from the text."""
    settings = IndexSettings()
    counts = dict.fromkeys(("prompt_exact", "prompt_near", "stem_exact", "stem_near"), 0)
    same_index = same_before = item_mode = 0
    misses = []
    inferred_mode = infer_mode(item.text for item in items)
    for item in items:
        inferred: ItemStructure = infer_structure(item.text)
        for key in ("prompt", "stem"):
            theirs, ours = item.meta.get(f"{key}_end"), getattr(inferred, f"{key}_end")
            counts[f"{key}_exact"] += ours == theirs
            counts[f"{key}_near"] += _near(ours, theirs, tolerance)
        plain = ReferenceItem(item.id, item.text, with_inferred_structure({}, item.text))
        theirs = _indexed_as(item, mode, settings)
        same = _indexed_as(plain, inferred_mode, settings) == theirs
        same_index += same
        bare = ReferenceItem(item.id, item.text, {})
        same_before += _indexed_as(bare, TextMode.PROSE, settings) == theirs
        item_mode += looks_like_code(item.text) == (mode is TextMode.CODE)
        if not same:
            misses.append(
                (
                    item.id,
                    f"prompt_end {inferred.prompt_end} (loader {item.meta.get('prompt_end')}), "
                    f"stem_end {inferred.stem_end} (loader {item.meta.get('stem_end')})",
                )
            )
    return Agreement(
        name,
        len(items),
        **counts,
        same_index=same_index,
        same_before=same_before,
        item_mode=item_mode,
        loader_mode=mode,
        inferred_mode=inferred_mode,
        misses=tuple(misses),
    )


def question_only(item: ReferenceItem) -> ReferenceItem:
    """The item's prompt alone, as a set of questions without solutions gives it: no
    ``prompt_end`` (the whole text is asked), the same stem."""
    end = item.meta.get("prompt_end")
    meta = {k: v for k, v in item.meta.items() if k != "prompt_end"}
    return ReferenceItem(item.id, item.text[:end] if isinstance(end, int) else item.text, meta)


def format_table(rows: list[Agreement]) -> str:
    header = (
        f"{'benchmark':<24} {'items':>6} {'prompt=':>8} {'prompt~':>8} {'stem=':>6} "
        f"{'stem~':>6} {'index=':>7} {'before':>7} {'item mode':>9} {'corpus mode':>12}"
    )
    lines = [header]
    for r in rows:
        mode = f"{r.inferred_mode.value} {'ok' if r.inferred_mode is r.loader_mode else 'NO'}"
        lines.append(
            f"{r.name:<24} {r.items:>6} {r.prompt_exact / r.items:>8.3f} "
            f"{r.prompt_near / r.items:>8.3f} {r.stem_exact / r.items:>6.3f} "
            f"{r.stem_near / r.items:>6.3f} {r.same_index / r.items:>7.3f} "
            f"{r.same_before / r.items:>7.3f} "
            f"{r.item_mode / r.items:>9.3f} {mode:>12}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", type=int, default=0, help="disagreements to print per corpus")
    args = parser.parse_args()
    catalog = read_catalog()
    print(f"# item structure from plain text vs the loaders, revision {git_revision()}")
    print(f"# machine: {machine()}")
    print(f"# '=' exact offset, '~' within {TOLERANCE} characters; absent on both sides agrees")
    print("# index=: same passages, key and stem as the loader's item; before: without inference")
    started = time.perf_counter()
    rows = []
    for name in BENCHMARKS:
        corpus = catalog[name].load()
        rows.append(agreement(name, corpus.items, corpus.mode))
    for name in QUESTIONS_ONLY:
        corpus = catalog[name].load()
        items = [question_only(item) for item in corpus.items]
        rows.append(agreement(f"{name} (question)", items, corpus.mode))
    elapsed = time.perf_counter() - started
    print(format_table(rows))
    total = sum(r.items for r in rows)
    print(f"# {total} items loaded and inferred in {elapsed:.1f} s")
    for row in rows:
        for item_id, what in row.misses[: args.show]:
            print(f"#   {row.name}/{item_id}: {what}")


if __name__ == "__main__":
    main()
