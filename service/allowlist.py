"""Matches a reviewer dismissed as false positives, so that no scan flags them again.

An allowlist is a JSON-lines file, one entry per line, written by ``clearance review`` from
the dismissals (``service.review.allowlist``) or by hand. An entry names a reference item and
one of two levels, the reviewer's choice:

* ``document``: this document and this item (``doc_id`` given). Another document holding the
  same item is still flagged.
* ``span``: this stretch of the item's text, in any document (``ref_span`` given): a stock
  phrase the item shares with ordinary pages. A match is allowed only when all of its evidence
  lies inside allowed spans of its item, so a document holding more of the item is flagged.

Scoring (``service.scoring``) applies it, so every surface (scan, scan-shards, gate, serve)
reports an allowed match the same way: kept, marked ``allowed``, not counted in the risk.

>>> allowlist = Allowlist.load("allowlist.jsonl")                        # doctest: +SKIP
>>> allowlist.allows("doc-7", "gsm8k-test", "gsm8k-test/20", [(0, 41)])  # doctest: +SKIP
AllowEntry(corpus='gsm8k-test', ref_id='gsm8k-test/20', doc_id='doc-7', ...)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LEVELS = ("document", "span")


class AllowlistError(ValueError):
    """An allowlist file that cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class AllowEntry:
    """One dismissal: an item, and either the document or the reference span it covers."""

    corpus: str
    ref_id: str
    doc_id: str | None = None
    ref_span: tuple[int, int] | None = None
    note: str = ""
    reviewer: str = ""

    def __post_init__(self) -> None:
        if (self.doc_id is None) == (self.ref_span is None):
            raise ValueError("an allowlist entry needs either doc_id (document) or ref_span")
        if self.ref_span is not None and not 0 <= self.ref_span[0] < self.ref_span[1]:
            raise ValueError(f"ref_span must be [start, end) with start < end: {self.ref_span}")

    @property
    def level(self) -> str:
        return "document" if self.doc_id is not None else "span"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"level": self.level, "corpus": self.corpus, "ref_id": self.ref_id}
        if self.doc_id is not None:
            data["doc_id"] = self.doc_id
        if self.ref_span is not None:
            data["ref_span"] = list(self.ref_span)
        data["note"], data["reviewer"] = self.note, self.reviewer
        return data

    @classmethod
    def from_dict(cls, data: Any) -> AllowEntry:
        if not isinstance(data, dict):
            raise ValueError("an entry must be a JSON object")
        level = data.get("level")
        if level not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
        for key in ("corpus", "ref_id", *(("doc_id",) if level == "document" else ())):
            if not isinstance(data.get(key), str):
                raise ValueError(f"a {level} entry needs {key!r} (a string)")
        span = data.get("ref_span") if level == "span" else None
        if level == "span" and not (
            isinstance(span, list) and len(span) == 2 and all(type(v) is int for v in span)
        ):
            raise ValueError("a span entry needs 'ref_span': [start, end] (integers)")
        return cls(
            corpus=data["corpus"],
            ref_id=data["ref_id"],
            doc_id=data["doc_id"] if level == "document" else None,
            ref_span=(span[0], span[1]) if span is not None else None,
            note=str(data.get("note") or ""),
            reviewer=str(data.get("reviewer") or ""),
        )


@dataclass(frozen=True)
class Allowlist:
    """Entries indexed by item; small and picklable, so shard workers get a copy each."""

    entries: tuple[AllowEntry, ...] = ()
    source: str | None = None

    def __post_init__(self) -> None:
        by_item: dict[tuple[str, str], list[AllowEntry]] = {}
        for entry in self.entries:
            by_item.setdefault((entry.corpus, entry.ref_id), []).append(entry)
        object.__setattr__(self, "_by_item", by_item)

    def __len__(self) -> int:
        return len(self.entries)

    def allows(
        self,
        doc_id: str | None,
        corpus: str,
        ref_id: str,
        ref_spans: Sequence[tuple[int, int]],
    ) -> AllowEntry | None:
        """The entry that allows this match, or None: the document's own entry first, then
        spans covering every piece of evidence (each inside one allowed span)."""
        entries: list[AllowEntry] = self._by_item.get((corpus, ref_id), [])  # type: ignore[attr-defined]
        for entry in entries:
            if entry.doc_id is not None and entry.doc_id == doc_id:
                return entry
        spans = [e for e in entries if e.ref_span is not None]
        if not spans or not ref_spans:
            return None
        covering: AllowEntry | None = None
        for start, end in ref_spans:
            inside = next(
                (e for e in spans if e.ref_span[0] <= start and end <= e.ref_span[1]),  # type: ignore[index]
                None,
            )
            if inside is None:
                return None
            covering = covering or inside
        return covering

    @classmethod
    def load(cls, path: Path | str) -> Allowlist:
        """Read an allowlist file; ``AllowlistError`` with ``file:line`` for a bad entry."""
        path = Path(path)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            raise AllowlistError(f"{path}: allowlist file not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise AllowlistError(f"{path}: cannot read the allowlist: {exc}") from exc
        entries = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                entries.append(AllowEntry.from_dict(json.loads(line)))
            except ValueError as exc:  # json.JSONDecodeError is one
                raise AllowlistError(f"{path}:{number}: bad allowlist entry: {exc}") from exc
        return cls(tuple(entries), str(path))

    def write(self, path: Path | str) -> None:
        write_entries(path, self.entries)


def write_entries(path: Path | str, entries: Iterable[AllowEntry]) -> int:
    """Write entries as JSON lines (replacing the file at once); returns how many."""
    from service.shards.layout import write_atomic

    lines = [json.dumps(e.to_dict(), ensure_ascii=False) for e in entries]
    write_atomic(Path(path), "".join(line + "\n" for line in lines))
    return len(lines)


def load_allowlist(path: Path | str | None) -> Allowlist | None:
    return None if path is None else Allowlist.load(path)


_SEVERITY = {"keep": 0, "review": 1, "remove": 2}


def allow_result(result: dict[str, Any], allowlist: Allowlist) -> dict[str, Any]:
    """An earlier scan's result (its JSON form) as a scan with ``allowlist`` would report it.

    For re-judging saved results (``clearance gate --from-results --allowlist``). The spans
    checked are the evidence's where the result has it (``clearance scan``), else the
    strongest span (``scan-shards`` summaries).
    """
    matches = result.get("matches")
    if result.get("decision") is None or not matches:
        return result
    marked = []
    for match in matches:
        spans = [(e["ref_start"], e["ref_end"]) for e in match.get("evidence") or ()]
        if not spans and match.get("ref_span"):
            spans = [(match["ref_span"][0], match["ref_span"][1])]
        entry = None
        if not match.get("allowed"):
            entry = allowlist.allows(result.get("id"), match["corpus"], match["ref_id"], spans)
        if entry is not None:
            match = {**match, "decision": "keep", "allowed": entry.level}
        marked.append(match)
    counted = [m for m in marked if not m.get("allowed")]
    return {
        **result,
        "matches": marked,
        "risk": max((float(m["risk"]) for m in counted), default=0.0),
        "decision": max((m["decision"] for m in counted), key=_SEVERITY.get, default="keep"),
    }
