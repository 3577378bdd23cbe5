"""Takedowns: taking a corpus, or single items or works of one, out of an index.

``remove_corpus`` and ``remove_items`` are the public entry points; ``clearance index remove``
wraps them. Nothing is rebuilt or re-embedded: a corpus leaves with its folder, items leave
through a tombstone in their corpus's folder (``indexer.removals`` says why that is both cheap
and exact). Each call is one atomic index change (``indexer.index_change``): a crash leaves
the index as it was or as it is meant to be, and a scanner (or the HTTP service, on reload)
sees the change only when it loads the index again.

>>> remove_items("my-index", ["books_11-0"], corpus="books")  # doctest: +SKIP
TakedownReport(..., corpora=(ItemRemoval(corpus='books', removed=('books_11-0',), ...),))
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from indexer.corpus import Corpus
from indexer.files import IndexFile, describe_file
from indexer.index_change import (
    changing,
    clear_leftovers,
    commit_change,
    placed,
    stage_corpus_folder,
)
from indexer.manifest import (
    ClearanceIndexError,
    CorpusRecord,
    IndexManifest,
    RemovedCorpus,
    read_manifest,
    utc_now,
)
from indexer.removals import (
    TOMBSTONE_FILES,
    RemovedItem,
    dead_posting_rows,
    live_passage_mask,
    write_tombstone,
)
from indexer.store import CorpusIndex, ReferenceIndex, corpus_dir

# Ids named in an error message; the rest are counted.
_SHOWN_IDS = 10


class UnknownCorpusError(ClearanceIndexError):
    pass


class UnknownItemsError(ClearanceIndexError):
    """Ids that no corpus (of those searched) holds; nothing was removed."""


@dataclass(frozen=True)
class ItemRef:
    """An item to take down: its id, and the corpus that holds it when the id alone could be
    another corpus's too (benchmark ids are often row numbers)."""

    id: str
    corpus: str | None = None


@dataclass(frozen=True)
class ItemRemoval:
    """What ``remove_items`` did to one corpus."""

    corpus: str
    removed: tuple[str, ...]  # taken down by this call
    already: tuple[str, ...]  # taken down before: nothing to do


@dataclass(frozen=True)
class TakedownReport:
    index_dir: Path
    corpora: tuple[ItemRemoval, ...]
    manifest: IndexManifest

    @property
    def removed(self) -> int:
        return sum(len(c.removed) for c in self.corpora)


def remove_corpus(index_dir: Path | str, name: str) -> IndexManifest:
    """Take corpus ``name`` out of the index; the others are not touched.

    The manifest keeps a record of it (``removed_corpora``: name, items, checksum, when).
    """
    index_dir = Path(index_dir)
    with changing(index_dir):
        manifest = read_manifest(index_dir)
        record = _corpus_record(index_dir, manifest, name)
        if len(manifest.corpora) == 1:
            raise ClearanceIndexError(
                f"{name!r} is the only corpus of {index_dir}, and an index holds at least one; "
                "delete the index folder to drop it all"
            )
        clear_leftovers(index_dir, manifest)
        now = utc_now()
        gone = RemovedCorpus(record.name, record.items, record.checksum, now)
        new = replace(
            manifest,
            corpora=tuple(c for c in manifest.corpora if c.name != name),
            removed_corpora=(*manifest.removed_corpora, gone),
            updated_at=now,
        )
        return commit_change(index_dir, manifest, new)


def remove_items(
    index_dir: Path | str, items: Sequence[str | ItemRef], *, corpus: str | None = None
) -> TakedownReport:
    """Take these items out of the index: by id, in ``corpus`` when given (an ``ItemRef``
    with a corpus of its own is looked for there).

    All or nothing: an id that no corpus holds, or that several hold and no corpus was named
    for, raises before anything is written. An item already taken down is reported in
    ``ItemRemoval.already``, not an error: a takedown list can be sent again.
    """
    index_dir = Path(index_dir)
    refs = list(dict.fromkeys(_ref(item, corpus) for item in items))
    if not refs:
        raise UnknownItemsError("no item ids were given: nothing to remove")
    with changing(index_dir):
        manifest = read_manifest(index_dir)
        for name in {ref.corpus for ref in refs} - {None}:
            _corpus_record(index_dir, manifest, name)
        index = ReferenceIndex.open(index_dir)
        by_corpus = _owners(index_dir, refs, index.corpora)
        clear_leftovers(index_dir, manifest)
        now = utc_now()
        outcomes, changed = [], {}
        for held in index.corpora:
            asked = by_corpus.get(held.name)
            if not asked:
                continue
            before = held.removals.ids
            fresh = tuple(i for i in asked if i not in before)
            outcomes.append(ItemRemoval(held.name, fresh, tuple(i for i in asked if i in before)))
            if fresh:
                changed[held.name] = _with_tombstone(index_dir, held, fresh, now)
        if changed:
            corpora = tuple(changed.get(r.name, r) for r in manifest.corpora)
            new = replace(manifest, corpora=corpora, updated_at=now)
            manifest = commit_change(index_dir, manifest, new)
    return TakedownReport(index_dir, tuple(outcomes), manifest)


def taken_down_again(index_dir: Path | str, corpora: Sequence[Corpus]) -> dict[str, list[str]]:
    """Per corpus of ``corpora`` that replaces one with a tombstone, the ids taken down there
    that the replacement holds again (a replacement holds what it is given: warn, not drop)."""
    index = ReferenceIndex.open(index_dir)
    removed = {c.name: c.removals.ids for c in index.corpora if c.removals.items}
    again = {
        c.name: [item.id for item in c.items if item.id in removed[c.name]]
        for c in corpora
        if c.name in removed
    }
    return {name: ids for name, ids in again.items() if ids}


def read_item_refs(path: Path | str) -> list[ItemRef]:
    """Items one a line (``-``: standard input): an id as scan results give it (``ref_id``),
    or ``CORPUS<tab>ID``, as ``jq -r '[.corpus, .ref_id] | @tsv'`` writes them from scan
    matches. Blank lines are skipped and each field's surrounding whitespace dropped."""
    if str(path) == "-":
        import sys

        text = sys.stdin.read()
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ClearanceIndexError(f"cannot read item ids from {path}: {exc}") from exc
    refs = []
    for line in text.splitlines():
        corpus, _, item = line.strip().rpartition("\t")
        if item.strip():
            refs.append(ItemRef(item.strip(), corpus.strip() or None))
    return refs


def _ref(item: str | ItemRef, corpus: str | None) -> ItemRef:
    if isinstance(item, ItemRef):
        return item if item.corpus else ItemRef(item.id, corpus)
    return ItemRef(item, corpus)


def _corpus_record(index_dir: Path, manifest: IndexManifest, name: str) -> CorpusRecord:
    record = manifest.corpus(name)
    if record is None:
        held = ", ".join(c.name for c in manifest.corpora)
        raise UnknownCorpusError(f"{index_dir} holds no corpus {name!r}; it holds: {held}")
    return record


def _owners(
    index_dir: Path, refs: list[ItemRef], corpora: list[CorpusIndex]
) -> dict[str, list[str]]:
    """The asked ids grouped by the corpus that holds each; refuses unknown and shared ids."""
    ids = {c.name: set(c.ids) for c in corpora}
    unknown, shared, by_corpus = [], [], {}
    for ref in refs:
        holders = [n for n, held in ids.items() if ref.corpus in (None, n) and ref.id in held]
        if not holders:
            unknown.append(ref)
        elif len(holders) > 1:
            shared.append((ref, holders))
        else:
            by_corpus.setdefault(holders[0], []).append(ref.id)
    if unknown:
        named = [f"{r.corpus}/{r.id}" if r.corpus else r.id for r in unknown]
        raise UnknownItemsError(
            f"{len(unknown)} of {len(refs)} items are not in {index_dir}: {_listed(named)}; "
            "nothing was removed (ids are as scan results give them in ref_id)"
        )
    if shared:
        ref, holders = shared[0]
        listed = _listed([r.id for r, _ in shared])
        raise ClearanceIndexError(
            f"{len(shared)} ids are held by more than one corpus ({listed}; {ref.id!r} by "
            f"{', '.join(holders)}); nothing was removed: name the corpus (--corpus, or "
            "CORPUS<tab>ID lines)"
        )
    return by_corpus


def _listed(ids: list[str]) -> str:
    shown = ", ".join(repr(i) for i in ids[:_SHOWN_IDS])
    return shown + (f" and {len(ids) - _SHOWN_IDS} more" if len(ids) > _SHOWN_IDS else "")


def _with_tombstone(
    index_dir: Path, held: CorpusIndex, fresh: tuple[str, ...], now: str
) -> CorpusRecord:
    """The corpus in a new folder: its files hard-linked, its tombstone with ``fresh`` added."""
    record = held.record
    items = (*held.removals.items, *(RemovedItem(item, now) for item in fresh))
    live = live_passage_mask(held.ids, held.passages[:, 0], frozenset(i.id for i in items))
    dead = dead_posting_rows(held.ngram_passages, live)
    source = corpus_dir(index_dir, record.folder_name)
    kept = tuple(f for f in record.files if f.name not in TOMBSTONE_FILES)

    def write(folder: Path) -> tuple[IndexFile, ...]:
        for file in kept:
            _link(source / file.name, folder / file.name)
        write_tombstone(folder, items, dead)
        written = tuple(describe_file(folder, folder / name) for name in TOMBSTONE_FILES)
        return tuple(sorted((*kept, *written), key=lambda f: f.name))

    folder, files = stage_corpus_folder(index_dir, record.name, write)
    return replace(placed(record, folder, files), removed_items=len(items))


def _link(source: Path, target: Path) -> None:
    """Share a committed file (never written again) with the new folder; copy if the file
    system has no hard links."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
