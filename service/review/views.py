"""What the side-by-side page shows for one document: its text and each matched reference
text, with the evidence highlighted on both sides, the numbers that decided, and the verdicts.

Results of ``clearance scan`` carry every piece of evidence (and near misses when asked for);
``scan-shards`` records carry the strongest span pair of each match, which is what is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from indexer.manifest import ClearanceIndexError
from indexer.store import ReferenceIndex
from service.review.highlight import Excerpt, Mark, excerpts
from service.review.queue import FLAGGED, StoredDocument
from service.review.store import Verdict


class ReferenceTexts:
    """Reference items' texts by (corpus, ref_id), from the index the results were scanned with."""

    def __init__(self, index_dir: Path | None):
        self.index_dir = index_dir
        self._index: ReferenceIndex | None = None
        self.problem: str | None = None if index_dir else "no index given (--index)"

    def text(self, corpus: str, ref_id: str) -> str | None:
        if self.problem is not None:
            return None
        if self._index is None:
            try:
                self._index = ReferenceIndex.open(self.index_dir)  # type: ignore[arg-type]
            except ClearanceIndexError as exc:
                self.problem = str(exc)
                return None
        found = next((c for c in self._index.corpora if c.name == corpus), None)
        if found is None:
            return None
        try:
            return found.item_text(found.row_of(ref_id))
        except KeyError:
            return None


@dataclass(frozen=True)
class Piece:
    """One aligned region of evidence, in the JSON form results give it."""

    method: str
    doc_start: int
    doc_end: int
    ref_start: int
    ref_end: int
    similarity: float | None
    signals: dict[str, float]


@dataclass(frozen=True)
class MatchView:
    number: int
    match: dict[str, Any]
    flagged: bool
    pieces: tuple[Piece, ...]
    reference: tuple[Excerpt, ...] | None
    ref_span: tuple[int, int]  # all the evidence on the reference side: what "span" allows
    verdict: Verdict | None


@dataclass(frozen=True)
class DocumentView:
    stored: StoredDocument
    text: tuple[Excerpt, ...] | None
    matches: tuple[MatchView, ...]
    near_misses: tuple[dict[str, Any], ...]
    reference_problem: str | None

    @property
    def flagged(self) -> int:
        return sum(1 for m in self.matches if m.flagged)


def pieces_of(match: dict[str, Any]) -> tuple[Piece, ...]:
    evidence = match.get("evidence")
    if evidence:
        return tuple(
            Piece(
                e["method"],
                e["doc_start"],
                e["doc_end"],
                e["ref_start"],
                e["ref_end"],
                e.get("similarity"),
                e.get("signals") or {},
            )
            for e in evidence
        )
    (doc_start, doc_end), (ref_start, ref_end) = match["doc_span"], match["ref_span"]
    method = (match.get("methods") or ["verbatim"])[0]
    return (Piece(method, doc_start, doc_end, ref_start, ref_end, match.get("similarity"), {}),)


def document_view(
    stored: StoredDocument, references: ReferenceTexts, verdicts: dict[tuple[str, str], Verdict]
) -> DocumentView:
    matches, doc_marks = [], []
    for number, match in enumerate(stored.result.get("matches") or [], start=1):
        pieces = pieces_of(match)
        doc_marks.extend(Mark(p.doc_start, p.doc_end, p.method, number) for p in pieces)
        ref_text = references.text(match["corpus"], match["ref_id"])
        ref_marks = [Mark(p.ref_start, p.ref_end, p.method, number) for p in pieces]
        matches.append(
            MatchView(
                number=number,
                match=match,
                flagged=match.get("decision") in FLAGGED,
                pieces=pieces,
                reference=None if ref_text is None else tuple(excerpts(ref_text, ref_marks)),
                ref_span=(min(p.ref_start for p in pieces), max(p.ref_end for p in pieces)),
                verdict=verdicts.get((match["corpus"], match["ref_id"])),
            )
        )
    near = tuple(stored.result.get("near_misses") or ())
    doc_marks.extend(Mark(n["doc_span"][0], n["doc_span"][1], "near-miss", 0) for n in near)
    text = None if stored.text is None else tuple(excerpts(stored.text, doc_marks))
    return DocumentView(stored, text, tuple(matches), near, references.problem)
