"""Reference corpora as the indexer receives them, and the two generic input formats.

Benchmark-specific loaders live in ``reference_corpora.loaders``; they all produce the
``Corpus`` and ``ReferenceItem`` defined here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from indexer.item_structure import infer_mode, with_inferred_structure
from indexer.normalize import TextMode


class CorpusKind(str, Enum):
    """Why a corpus must stay out of training data; policies differ per kind."""

    BENCHMARK = "benchmark"
    COPYRIGHT = "copyright"


class CorpusInputError(ValueError):
    """A reference input cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class ReferenceItem:
    """One reference item (a test question, a whole work) as the corpus names it."""

    id: str
    text: str
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Corpus:
    """A named set of reference items of one kind, tokenized in one mode."""

    name: str
    kind: CorpusKind
    items: list[ReferenceItem]
    mode: TextMode = TextMode.PROSE
    source: str = ""
    license: str = ""

    def __post_init__(self) -> None:
        self.kind = CorpusKind(self.kind)
        self.mode = TextMode(self.mode)
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", self.name):
            raise CorpusInputError(
                f"corpus name {self.name!r} must be letters, digits, '.', '_' or '-' "
                "(it names a folder in the index)"
            )
        seen: set[str] = set()
        for item in self.items:
            if item.id in seen:
                raise CorpusInputError(f"corpus {self.name!r}: duplicate item id {item.id!r}")
            seen.add(item.id)


def read_reference_jsonl(
    path: Path | str, *, name: str | None = None, kind: CorpusKind | str | None = None
) -> list[Corpus]:
    """Read the generic reference format: one ``{"id", "text", "corpus", "kind"}`` per record.

    The records may be JSON lines, a JSON array, or Parquet rows, compressed or not, local or
    an fsspec URL: whatever ``indexer.readers`` reads, told by content. ``name`` and ``kind``
    stand in for the ``corpus`` and ``kind`` of records that lack them.
    Optional fields: ``mode`` (``prose``/``code``), ``license``, ``meta``. One file may hold
    several corpora; they come back in order of first appearance. In ``meta``,
    ``prompt_end`` (characters of ``text`` that are what a model is asked, before any
    solution or answer) and ``stem_end`` (a multiple-choice question before its options) are
    used as the catalog's loaders use them: the prompt is embedded on its own, and scoring
    measures how much of the prompt a document holds. Where a benchmark item's meta lacks
    them they are read from its text, and a corpus no record gives a ``mode`` is code when
    most of its items are (``indexer.item_structure``); ``null`` says there is no such part.
    """
    defaults = {"corpus": name, "kind": None if kind is None else CorpusKind(kind).value}
    corpora: dict[str, Corpus] = {}
    given_modes: dict[str, TextMode] = {}
    for where, record in _reference_records(path):
        if not isinstance(record, dict):
            raise CorpusInputError(f"{where}: expected a JSON object")
        record = {k: v for k, v in defaults.items() if v is not None} | record
        for key in ("id", "text", "corpus", "kind"):
            if key not in record:
                raise CorpusInputError(f"{where}: missing field {key!r}{_HINTS.get(key, '')}")
        if not isinstance(record["text"], str):
            raise CorpusInputError(f"{where}: field 'text' must be a string")
        try:
            kind = CorpusKind(record["kind"])
            mode = TextMode(record.get("mode", "prose"))
        except ValueError as exc:
            raise CorpusInputError(
                f"{where}: {exc} (kind is 'benchmark' or 'copyright', mode 'prose' or 'code')"
            ) from exc
        name = str(record["corpus"])
        corpus = corpora.get(name)
        if corpus is None:
            corpus = corpora[name] = Corpus(
                name=name,
                kind=kind,
                items=[],
                source=str(path),
                license=str(record.get("license", "")),
            )
        given = given_modes.setdefault(name, mode) if "mode" in record else mode
        if (corpus.kind, given) != (kind, mode):
            raise CorpusInputError(
                f"{where}: corpus {name!r} was {corpus.kind.value}/{given.value} "
                f"earlier, now {kind.value}/{mode.value}; one corpus has one kind and mode"
            )
        meta = _checked_meta(record.get("meta", {}), record["text"], where)
        if kind is CorpusKind.BENCHMARK:
            meta = with_inferred_structure(meta, record["text"])
        corpus.items.append(ReferenceItem(str(record["id"]), record["text"], meta))
    result = list(corpora.values())
    for corpus in result:
        corpus.mode = given_modes.get(corpus.name) or infer_mode(i.text for i in corpus.items)
        Corpus.__post_init__(corpus)  # re-check id uniqueness now that items are in
    if not result:
        raise CorpusInputError(f"{path}: no reference items")
    return result


_HINTS = {"corpus": " (or name the corpus: --name)", "kind": " (or give --kind)"}


def _reference_records(path: Path | str) -> Iterator[tuple[str, Any]]:
    """Each record of a reference input with where it is (``file:line``, ``file row N``)."""
    from indexer.readers import BadLine, InputReadError, Source, find_sources, read_values

    try:
        (source,) = find_sources([str(path)]) if str(path) != "-" else [Source("-", "stdin")]
        for location, value in read_values(source):
            where = source.where
            if location.line is not None:
                where = f"{where}:{location.line}"
            elif location.row is not None:
                where = f"{where} row {location.row}"
            if isinstance(value, BadLine):
                raise CorpusInputError(f"{where}: not valid JSON ({value.reason})")
            yield where, value
    except InputReadError as exc:
        raise CorpusInputError(str(exc)) from exc


def _checked_meta(meta: Any, text: str, where: str) -> dict[str, Any]:
    """``meta`` as given, once its offsets are known to fall inside ``text``."""
    if not isinstance(meta, dict):
        raise CorpusInputError(f"{where}: field 'meta' must be a JSON object")
    ends = {}
    for key in ("stem_end", "prompt_end"):
        if meta.get(key) is not None:
            value = meta[key]
            if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= len(text):
                raise CorpusInputError(
                    f"{where}: meta.{key} must be a character offset in 1..{len(text)}, got "
                    f"{value!r}"
                )
            ends[key] = value
    if ends.get("stem_end", 0) > ends.get("prompt_end", len(text)):
        raise CorpusInputError(f"{where}: meta.stem_end comes after meta.prompt_end")
    return meta


_GUTENBERG_START = re.compile(r"^\*\*\* ?START OF (THE|THIS) PROJECT GUTENBERG.*$", re.I | re.M)
_GUTENBERG_END = re.compile(r"^\*\*\* ?END OF (THE|THIS) PROJECT GUTENBERG.*$", re.I | re.M)
_GUTENBERG_CLOSING = re.compile(r"^End of (the )?Project Gutenberg.*$", re.I | re.M)


def strip_gutenberg(text: str) -> tuple[str, int]:
    """Drop Project Gutenberg's licence header and footer.

    Returns the body and its offset in ``text``: the boilerplate is the same in every PG book,
    so leaving it in would make every crawled PG page look like a copy of every work.
    """
    start = 0
    header = _GUTENBERG_START.search(text)
    if header:
        start = header.end()
    footer = _GUTENBERG_END.search(text, start)
    end = footer.start() if footer else len(text)
    # Most books also close with "End of (the) Project Gutenberg EBook of ..." just before.
    closing = _GUTENBERG_CLOSING.search(text, start, end)
    if closing:
        end = closing.start()
    return text[start:end], start


def read_text_works(
    path: Path, name: str, kind: CorpusKind = CorpusKind.COPYRIGHT, license: str = ""
) -> Corpus:
    """Plain-text works: a file, or a folder of ``.txt`` files, one work per file.

    The work id is the file name without extension; each item's meta records the file and
    the offset of the body in it, so spans can be traced back to the original file.
    """
    from indexer.readers import Source

    path = Path(path)
    files = sorted(path.glob("*.txt")) if path.is_dir() else [path]
    if not files:
        raise CorpusInputError(f"{path}: no .txt files")
    items = [read_work(Source(str(file.resolve()), file.name)) for file in files]
    return Corpus(name=name, kind=kind, items=items, source=str(path), license=license)


def read_work(source: Any) -> ReferenceItem:
    """One work from a text source (``indexer.readers.Source``: local, remote, compressed)."""
    from indexer.readers import InputReadError, read_text

    try:
        raw = read_text(source, encoding="utf-8-sig")
    except InputReadError as exc:
        raise CorpusInputError(str(exc)) from exc
    # Universal newlines, as text-mode reading gives: offsets and checksums stay what they were.
    body, offset = strip_gutenberg(raw.replace("\r\n", "\n").replace("\r", "\n"))
    name = source.name
    return ReferenceItem(id=work_id(name), text=body, meta={"file": name, "offset": offset})


def work_id(file_name: str) -> str:
    """``books_11-0.txt`` and ``books_11-0.txt.gz`` are both the work ``books_11-0``."""
    stem = file_name
    for suffix in (".gz", ".zst", ".bz2", ".xz", ".txt"):
        stem = stem.removesuffix(suffix)
    return stem


def merge_corpora(corpora: Iterable[Corpus]) -> list[Corpus]:
    """Check that corpus names are unique across all inputs of one build."""
    result: list[Corpus] = []
    names: set[str] = set()
    for corpus in corpora:
        if corpus.name in names:
            raise CorpusInputError(f"corpus {corpus.name!r} is given twice")
        names.add(corpus.name)
        result.append(corpus)
    return result
