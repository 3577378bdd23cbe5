"""The index manifest: how an index was built, so a scanner can refuse one it would misread."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from indexer.chunking import ChunkingSettings
from indexer.corpus import CorpusKind
from indexer.embedding import EmbeddingSettings
from indexer.files import IndexFile
from indexer.fingerprints import NgramSettings
from indexer.normalize import NormalizationSettings, TextMode
from indexer.static_embedding import StaticSettings
from indexer.strict_json import StrictJsonError, parse_dataclass
from indexer.terms import TermSettings
from indexer.vector_index import VectorSettings

# 4: static-embedding vectors (static.faiss) and the static model in the index; no
# transformer vectors at build time.
# 5: every corpus lists its files with size and SHA-256, checked on load and by `index verify`.
# Takedowns (``indexer.takedown``) add keys that are written only when used (a corpus's
# ``folder`` and ``removed_items``, the index's ``removed_corpora``), so an index without
# them reads as before; a Clearance that does not know them refuses the index (unknown key)
# rather than serve items that were taken down.
FORMAT_VERSION = 5
MANIFEST_NAME = "manifest.json"
REBUILD_HINT = "rebuild the index (or that corpus, with `clearance index add --replace`)"


class ClearanceIndexError(RuntimeError):
    """Base class for index problems a user can hit."""


class IndexNotFoundError(ClearanceIndexError):
    pass


class IndexMismatchError(ClearanceIndexError):
    """The index was built with a model or settings this scanner does not use."""


class IndexCorruptError(ClearanceIndexError):
    """A file of the index is missing, cut short, edited or unreadable; the message names it.

    Served anyway, such an index gives wrong answers without a sign (a zeroed postings table
    finds nothing), so every reader refuses it.
    """


@dataclass(frozen=True)
class IndexSettings:
    """Everything that decides what the index contains; a scanner must agree on all of it."""

    normalization: NormalizationSettings = field(default_factory=NormalizationSettings)
    chunking: ChunkingSettings = field(default_factory=ChunkingSettings)
    ngrams: NgramSettings = field(default_factory=NgramSettings)
    embedding: EmbeddingSettings = field(default_factory=EmbeddingSettings)
    vectors: VectorSettings = field(default_factory=VectorSettings)
    terms: TermSettings = field(default_factory=TermSettings)
    static: StaticSettings = field(default_factory=StaticSettings)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CorpusRecord:
    """One corpus in the index: what went in and a checksum to tell if it changed."""

    name: str
    kind: CorpusKind
    mode: TextMode
    items: int
    passages: int
    tokens: int
    ngrams: int
    checksum: str
    vector_index: str
    built_at: str
    source: str = ""
    license: str = ""
    # Items too short to fingerprint; they can still be found by the paraphrase tier.
    items_without_ngrams: int = 0
    # Gram lengths present (n, plus the full length of items shorter than n).
    gram_lengths: tuple[int, ...] = ()
    # Every file of the corpus folder as written (set once the folder is on disk).
    files: tuple[IndexFile, ...] = ()
    # The folder under ``corpora/`` ("": the corpus's name). A change writes a corpus's new
    # version beside the old one, so the manifest alone says which is current.
    folder: str = ""
    # Items taken down (``indexer.removals``): listed in the folder, masked at load.
    removed_items: int = 0

    @property
    def folder_name(self) -> str:
        return self.folder or self.name

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind.value
        data["mode"] = self.mode.value
        data["gram_lengths"] = list(self.gram_lengths)
        data["files"] = [asdict(f) for f in self.files]
        return _without_unused(data, folder="", removed_items=0)


@dataclass(frozen=True)
class RemovedCorpus:
    """A corpus taken out of the index whole, kept in the manifest as a record of it."""

    name: str
    items: int
    checksum: str
    removed_at: str


def _without_unused(data: dict[str, Any], **unused: Any) -> dict[str, Any]:
    """Drop keys still at their unused value: an index without takedowns keeps its manifest
    (and its content checksum) as before they existed."""
    return {k: v for k, v in data.items() if not (k in unused and v == unused[k])}


@dataclass(frozen=True)
class IndexManifest:
    settings: IndexSettings
    model_fingerprint: str
    dimension: int
    created_at: str
    updated_at: str
    corpora: tuple[CorpusRecord, ...] = ()
    format_version: int = FORMAT_VERSION
    clearance_version: str = ""
    # The static model in ``static_model/``: every passage's candidate vector came from it.
    static_checksum: str = ""
    static_dimension: int = 0
    removed_corpora: tuple[RemovedCorpus, ...] = ()

    def corpus(self, name: str) -> CorpusRecord | None:
        return next((c for c in self.corpora if c.name == name), None)

    def content_checksum(self) -> str:
        """SHA-256 over everything that decides scan results: settings, model, and every file
        of every corpus as written. Read from the manifest alone (no file is hashed), so data
        tools can put it in their cache keys: an index rebuilt in place gets a new one."""
        # Neither when nor in which folder a corpus was written changes what a scan finds.
        corpora = [
            {k: v for k, v in c.to_dict().items() if k not in ("built_at", "folder")}
            for c in self.corpora
        ]
        content = {
            "settings": self.settings.to_dict(),
            "model": self.model_fingerprint,
            "dimension": self.dimension,
            "static_model": self.static_checksum,
            "corpora": corpora,
        }
        encoded = json.dumps(content, sort_keys=True, ensure_ascii=False).encode("utf-8")
        return "sha256:" + hashlib.sha256(encoded).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        data = {
            "format_version": self.format_version,
            "clearance_version": self.clearance_version,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "model": {
                "name": self.settings.embedding.model,
                "backend": self.settings.embedding.backend,
                "dimension": self.dimension,
                "fingerprint": self.model_fingerprint,
            },
            "static_model": {
                "distilled_from": self.settings.embedding.model,
                "dimension": self.static_dimension,
                "checksum": self.static_checksum,
            },
            "settings": self.settings.to_dict(),
            "corpora": [c.to_dict() for c in self.corpora],
            "removed_corpora": [asdict(c) for c in self.removed_corpora],
        }
        return _without_unused(data, removed_corpora=[])

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IndexManifest:
        """Parse a manifest, refusing unknown, missing or mistyped keys (``StrictJsonError``)."""
        parsed: _ManifestFile = parse_dataclass(data, _ManifestFile)
        for where, dimension in (
            ("model", parsed.model.dimension),
            ("static_model", parsed.static_model.dimension),
        ):
            if dimension <= 0:
                raise StrictJsonError(f"{where}.dimension: {dimension}, not positive")
        if not parsed.corpora:  # the build never writes an index without a corpus
            raise StrictJsonError("corpora: empty")
        return cls(
            format_version=parsed.format_version,
            clearance_version=parsed.clearance_version,
            created_at=parsed.created_at,
            updated_at=parsed.updated_at,
            settings=parsed.settings,
            model_fingerprint=parsed.model.fingerprint,
            dimension=parsed.model.dimension,
            static_checksum=parsed.static_model.checksum,
            static_dimension=parsed.static_model.dimension,
            corpora=parsed.corpora,
            removed_corpora=parsed.removed_corpora,
        )


@dataclass(frozen=True)
class _ModelSection:
    name: str
    backend: str
    dimension: int
    fingerprint: str


@dataclass(frozen=True)
class _StaticModelSection:
    distilled_from: str
    dimension: int
    checksum: str


@dataclass(frozen=True)
class _ManifestFile:
    """The manifest's JSON layout, as ``IndexManifest.to_dict`` writes it."""

    format_version: int
    created_at: str
    updated_at: str
    model: _ModelSection
    static_model: _StaticModelSection
    settings: IndexSettings
    corpora: tuple[CorpusRecord, ...]
    clearance_version: str = ""
    removed_corpora: tuple[RemovedCorpus, ...] = ()


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def read_manifest(index_dir: Path) -> IndexManifest:
    """The manifest of ``index_dir``, refused with one line naming it if it is damaged."""
    path = Path(index_dir) / MANIFEST_NAME
    if not path.exists():
        raise IndexNotFoundError(
            f"{index_dir} is not a Clearance index (no {MANIFEST_NAME}); "
            "build one with `clearance index build --out DIR INPUT...`"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise IndexCorruptError(f"{path} is damaged: not UTF-8 text; rebuild the index") from exc
    except json.JSONDecodeError as exc:
        raise IndexCorruptError(
            f"{path} is damaged: not valid JSON ({exc.msg}: line {exc.lineno} "
            f"column {exc.colno}); rebuild the index"
        ) from exc
    if not isinstance(data, dict):
        raise IndexCorruptError(f"{path} is damaged: not a JSON object; rebuild the index")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexMismatchError(
            f"{index_dir} has index format {version}; this Clearance reads format "
            f"{FORMAT_VERSION}. Rebuild the index with this version."
        )
    try:
        return IndexManifest.from_dict(data)
    except StrictJsonError as exc:
        raise IndexCorruptError(f"{path} is damaged: {exc}; rebuild the index") from exc


def write_manifest(index_dir: Path, manifest: IndexManifest) -> None:
    """Write atomically, so a reader or a crash never sees half a manifest.

    The rename is the commit of every index change (``indexer.index_change``); the data is
    flushed first, and the folder after, so that a power cut cannot leave an empty manifest
    or undo the rename.
    """
    index_dir = Path(index_dir)
    text = json.dumps(manifest.to_dict(), indent=2, ensure_ascii=False) + "\n"
    fd, tmp = tempfile.mkstemp(dir=index_dir, prefix=".manifest-", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, index_dir / MANIFEST_NAME)
    fsync_path(index_dir)


def fsync_path(path: Path) -> None:
    """Flush a file's data, or a folder's entries (renames into it), to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_compatible(manifest: IndexManifest, expected: IndexSettings, fingerprint: str) -> None:
    """Refuse an index whose model or settings differ from the scanner's, saying which."""
    built = manifest.settings
    problems = []
    if built.embedding.model != expected.embedding.model:
        problems.append(
            f"model: index {built.embedding.model!r}, scanner {expected.embedding.model!r}"
        )
    elif manifest.model_fingerprint != fingerprint:
        problems.append(
            f"model weights: index {manifest.model_fingerprint[:19]}..., installed "
            f"{fingerprint[:19]}... (another version of {built.embedding.model!r})"
        )
    # The backend is not compared: the index holds no transformer vectors, and backends of the
    # same weights agree within the tolerance BENCHMARKS.md records.
    for section in ("normalization", "chunking", "ngrams", "terms", "static"):
        if getattr(built, section) != getattr(expected, section):
            problems.append(
                f"{section}: index {asdict(getattr(built, section))}, "
                f"scanner {asdict(getattr(expected, section))}"
            )
    if problems:
        raise IndexMismatchError(
            "the index was built with other settings than this scanner uses; rebuild the index "
            "or configure the scanner to match. Differences: " + "; ".join(problems)
        )
