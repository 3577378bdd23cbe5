"""The allowlist the scanner reads (``service.allowlist``), built from reviewers' dismissals.

Only each match's current verdict counts: a dismissal later confirmed allows nothing.
"""

from __future__ import annotations

from pathlib import Path

from service.allowlist import AllowEntry, write_entries
from service.review.store import VerdictStore


def dismissed_entries(store: VerdictStore) -> list[AllowEntry]:
    entries = []
    for verdict in store.latest():
        if verdict.verdict != "dismissed":
            continue
        span = verdict.level == "span"
        entries.append(
            AllowEntry(
                corpus=verdict.corpus,
                ref_id=verdict.ref_id,
                doc_id=None if span else verdict.doc_id,
                ref_span=(verdict.ref_start, verdict.ref_end) if span else None,  # type: ignore[arg-type]
                note=verdict.note,
                reviewer=verdict.reviewer,
            )
        )
    return entries


def write_allowlist(store: VerdictStore, path: Path | str) -> int:
    """Write the dismissals as an allowlist file for ``--allowlist``; returns the entries."""
    return write_entries(path, dismissed_entries(store))
