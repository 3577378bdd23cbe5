"""The other items a reworded span could be taken for: the transformer's margin.

A rewording of test item X is much closer, in the transformer's space, to X than to any other
item. A problem of the same style and subject (a GSM8K train problem, another MMLU question of
the same subject) is about as close to several test items at once, and its numbers, names and
alignment can agree with one of them by chance. The static margin
(``paraphrase_candidates.cosine_margins``) measures this with static vectors, which blur it;
the verifier also gets it from the transformer, on the aligned span, against the few other
items the static model puts nearest that span. Their passages are embedded on first use and
cached with the pairs' own (``ParaphraseMatcher``), so no transformer vector is built into
the index.

Measured before this was a feature (eval half, every reference item's passage embedded): the
right item's span stood 0.24 above the best other item at the median and 0.04 at the 5th
percentile, while 9 of the 11 pairs of hard negatives the verifier accepted stood below 0.08.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from indexer.store import CorpusIndex, ReferenceIndex
from indexer.vector_index import search

# Other items each span is compared with: the rival a same-subject question is confused with
# is nearly always among the static model's nearest few.
RIVALS = 4
# Static neighbours asked of each corpus per span; the span's own item's passages are among
# them and are passed over.
SEARCH_K = 16


@dataclass(frozen=True)
class SpanOwner:
    """An aligned span of a page and the item it is paired with."""

    text: str  # the page
    start: int
    end: int
    corpus: str
    item: int


def nearest_other_passages(
    index: ReferenceIndex, spans: Sequence[SpanOwner], count: int = RIVALS
) -> list[list[tuple[CorpusIndex, int]]]:
    """Per span, the passages (best one per item) of the ``count`` other items whose static
    vectors are nearest it, across every corpus, nearest first. Passages taken down are never
    rivals."""
    if not spans:
        return []
    static = index.static_embedder
    vectors = np.empty((len(spans), static.dimension), dtype=np.float32)
    rows_by_text: dict[str, list[int]] = {}
    for row, span in enumerate(spans):
        rows_by_text.setdefault(span.text, []).append(row)
    for text, rows in rows_by_text.items():
        bounds = np.asarray([(spans[r].start, spans[r].end) for r in rows], dtype=np.int64)
        vectors[rows] = static.encode_spans(text, bounds)
    found = []
    for corpus in index.corpora:
        vector_index = corpus.static_vectors
        if vector_index.ntotal == 0:
            continue
        k = min(SEARCH_K, vector_index.ntotal)
        scores, ids = search(vector_index, vectors, k, exclude=corpus.removals.dead_passages)
        found.append((corpus, scores, ids))
    return [_others(row, span, found, count) for row, span in enumerate(spans)]


def _others(
    row: int,
    span: SpanOwner,
    found: list[tuple[CorpusIndex, np.ndarray, np.ndarray]],
    count: int,
) -> list[tuple[CorpusIndex, int]]:
    ranked: list[tuple[float, int, int, int, CorpusIndex]] = []
    for number, (corpus, scores, ids) in enumerate(found):
        ok = ids[row] >= 0
        passages, near = ids[row][ok], scores[row][ok]
        items = corpus.passages[passages, 0]
        for score, passage, item in zip(
            near.tolist(), passages.tolist(), items.tolist(), strict=True
        ):
            if corpus.name == span.corpus and item == span.item:
                continue
            ranked.append((score, number, passage, item, corpus))
    ranked.sort(key=lambda r: (-r[0], r[1], r[2]))
    chosen: list[tuple[CorpusIndex, int]] = []
    seen: set[tuple[str, int]] = set()
    for _, _, passage, item, corpus in ranked:
        key = (corpus.name, item)
        if key in seen:
            continue
        seen.add(key)
        chosen.append((corpus, passage))
        if len(chosen) == count:
            break
    return chosen


def rival_margin(span_cosine: float, rival_cosines: np.ndarray) -> float:
    """The span's transformer cosine to its item less its best cosine to a rival's passage
    (0 when there is none, as for a lone sentence pair with nothing else around)."""
    best = float(np.max(rival_cosines)) if len(rival_cosines) else 0.0
    return span_cosine - max(best, 0.0)
