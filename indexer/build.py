"""Building an index: reference corpora in, an index folder with its manifest out.

``build_index`` and ``add_corpora`` are the public entry points; ``clearance index build`` and
``clearance index add`` are thin wrappers over them.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from indexer.build_parts import (
    ProgressFactory,
    build_part,
    items_sha256,
    no_progress,
    whole_corpus,
)
from indexer.build_work import PartsFolder
from indexer.corpus import Corpus, merge_corpora
from indexer.embedding import model_dimension, model_fingerprint, resolve_model_path
from indexer.files import IndexFile
from indexer.index_change import (
    changing,
    clear_leftovers,
    commit_change,
    placed,
    stage_corpus_folder,
)
from indexer.manifest import (
    MANIFEST_NAME,
    ClearanceIndexError,
    CorpusRecord,
    IndexManifest,
    IndexSettings,
    check_compatible,
    read_manifest,
    utc_now,
)
from indexer.parallel_build import BuildEngine, built_parts
from indexer.part_merge import MergedCorpus, PartSource, write_merged_corpus
from indexer.static_embedding import (
    STATIC_DIR,
    StaticEmbedder,
    copy_into_index,
    distilled_model_dir,
    weights_checksum,
)
from indexer.store import CORPORA_DIR, open_static_model

log = logging.getLogger(__name__)


def corpus_checksum(corpus: Corpus) -> str:
    """SHA-256 over ids, texts and metadata in order: equal checksums, same index content.

    Metadata counts because a loader's ``prompt_end`` decides passages and scoring keys.
    """
    return "sha256:" + items_sha256(corpus.items)


def corpus_record(corpus: Corpus, merged: MergedCorpus) -> CorpusRecord:
    """The manifest's record of a corpus just written (its folder and files added on commit)."""
    return CorpusRecord(
        name=corpus.name,
        kind=corpus.kind,
        mode=corpus.mode,
        items=len(corpus.items),
        passages=merged.passages,
        tokens=merged.tokens,
        ngrams=merged.ngrams,
        checksum=corpus_checksum(corpus),
        vector_index=merged.vector_index,
        built_at=utc_now(),
        source=corpus.source,
        license=corpus.license,
        items_without_ngrams=merged.without_ngrams,
        gram_lengths=merged.gram_lengths,
    )


def build_index(
    out: Path | str,
    corpora: Sequence[Corpus],
    *,
    settings: IndexSettings | None = None,
    progress: ProgressFactory = no_progress,
    overwrite: bool = False,
    engine: BuildEngine | None = None,
) -> IndexManifest:
    """Build a new index folder from ``corpora``, its parts on every core or on Ray (``engine``).

    A build that is killed resumes, run again the same, from the parts it finished
    (``indexer.parallel_build``); the engine and its workers never change the index written.

    >>> from indexer.corpus import read_reference_jsonl
    >>> build_index("my-index", read_reference_jsonl("refs.jsonl"))  # doctest: +SKIP
    """
    out = Path(out)
    settings = settings or IndexSettings()
    # A build killed while writing corpora leaves a manifest of some of them; its parts folder
    # says it was a build allowed to write here, and the rerun finishes it.
    resuming = PartsFolder.beside(out).root.is_dir()
    if (out / MANIFEST_NAME).exists() and not overwrite and not resuming:
        raise ClearanceIndexError(
            f"{out} already holds an index; use `clearance index add` to add corpora, "
            "or --overwrite to rebuild it"
        )
    if not corpora:
        raise ClearanceIndexError("nothing to index: no corpora were given")
    # Parts are kept and found by corpus name: two corpora of one name would take each other's.
    corpora = merge_corpora(corpora)
    out.mkdir(parents=True, exist_ok=True)
    fingerprint = model_fingerprint(settings.embedding.model)
    static_dir = _install_static_model(out, settings, fingerprint, overwrite)
    static = StaticEmbedder(static_dir)
    now = utc_now()
    manifest = IndexManifest(
        settings=settings,
        model_fingerprint=fingerprint,
        dimension=model_dimension(settings.embedding.model),
        created_at=now,
        updated_at=now,
        clearance_version=_package_version(),
        static_checksum=weights_checksum(static_dir),
        static_dimension=static.dimension,
    )
    resumed = resuming and (out / MANIFEST_NAME).exists() and not overwrite
    if resumed:
        manifest, corpora = _resumed(out, manifest, corpora)
    with (
        changing(out),
        built_parts(
            out,
            corpora,
            settings,
            static_dir,
            manifest.static_checksum,
            engine or BuildEngine(),
            progress,
        ) as parts,
    ):
        if resumed:  # under the change lock, as every change clears what interrupted ones left
            clear_leftovers(out, manifest)
        for corpus in corpora:
            manifest = _add_one(out, manifest, corpus, static, progress, parts.of(corpus))
    return manifest


def _resumed(
    out: Path, fresh: IndexManifest, corpora: Sequence[Corpus]
) -> tuple[IndexManifest, list[Corpus]]:
    """The manifest an interrupted build committed, and the corpora it has still to write.

    Its corpora were written in order, so those it holds with the same content are kept as
    they are (rewriting one would stage it under another folder name) and the rest follow.
    """
    built = read_manifest(out)
    if (built.settings, built.static_checksum) != (fresh.settings, fresh.static_checksum):
        raise ClearanceIndexError(
            f"{out} holds part of a build with other settings or another static model; "
            "use --overwrite to rebuild it"
        )
    done = {c.name: c.checksum for c in built.corpora}
    left = [c for c in corpora if done.get(c.name) != corpus_checksum(c)]
    if len(done) + len(left) != len(corpora):
        raise ClearanceIndexError(
            f"{out} holds part of a build of other corpora; use --overwrite to rebuild it"
        )
    return built, left


def _install_static_model(
    out: Path, settings: IndexSettings, fingerprint: str, overwrite: bool
) -> Path:
    """The index's own copy of the static model distilled from its transformer.

    Overwriting is a rebuild, not a change: the old index is taken away first (its manifest
    before its corpora, so a crash part-way leaves no index rather than a broken one).
    """
    if overwrite:
        (out / MANIFEST_NAME).unlink(missing_ok=True)
        shutil.rmtree(out / CORPORA_DIR, ignore_errors=True)
        shutil.rmtree(out / STATIC_DIR, ignore_errors=True)
    source = distilled_model_dir(
        resolve_model_path(settings.embedding.model), fingerprint, settings.static
    )
    return copy_into_index(source, out)


def index_holds(index_dir: Path | str, corpora: Sequence[Corpus], settings: IndexSettings) -> bool:
    """True if ``index_dir`` holds exactly these corpora, same content, built with ``settings``."""
    try:
        manifest = read_manifest(Path(index_dir))
    except ClearanceIndexError:
        return False
    built = {c.name: c.checksum for c in manifest.corpora}
    wanted = {c.name: corpus_checksum(c) for c in corpora}
    return built == wanted and manifest.settings == settings


def ensure_index(
    index_dir: Path | str,
    corpora: Sequence[Corpus],
    *,
    settings: IndexSettings | None = None,
    progress: ProgressFactory = no_progress,
) -> Path:
    """Build ``index_dir`` unless it already holds these corpora with these settings."""
    settings = settings or IndexSettings()
    if not index_holds(index_dir, corpora, settings):
        build_index(
            index_dir,
            corpora,
            settings=settings,
            progress=progress,
            overwrite=True,
        )
    return Path(index_dir)


def add_corpora(
    index_dir: Path | str,
    corpora: Sequence[Corpus],
    *,
    replace_existing: bool = False,
    progress: ProgressFactory = no_progress,
) -> IndexManifest:
    """Add corpora to an existing index with the settings it was built with.

    Other corpora are left untouched: nothing of theirs is re-read, re-hashed or re-embedded.
    """
    index_dir = Path(index_dir)
    manifest = read_manifest(index_dir)
    settings = manifest.settings
    check_compatible(manifest, settings, model_fingerprint(settings.embedding.model))
    for corpus in corpora:
        if manifest.corpus(corpus.name) and not replace_existing:
            raise ClearanceIndexError(
                f"corpus {corpus.name!r} is already in {index_dir}; pass --replace to rebuild it"
            )
    static = open_static_model(index_dir, manifest)
    with changing(index_dir):
        clear_leftovers(index_dir, manifest)
        for corpus in corpora:
            manifest = _add_one(index_dir, manifest, corpus, static, progress)
    return manifest


def _add_one(
    index_dir: Path,
    manifest: IndexManifest,
    corpus: Corpus,
    static: StaticEmbedder,
    progress: ProgressFactory,
    parts: Sequence[PartSource] | None = None,
) -> IndexManifest:
    """Write one corpus from its parts built beforehand (in corpus order,
    ``indexer.parallel_build``), or built here in one piece, and commit it."""
    log.info("indexing corpus %s (%d items)", corpus.name, len(corpus.items))
    if parts is None:
        parts = [build_part(whole_corpus(corpus), manifest.settings, static, progress)]
    merged: list[MergedCorpus] = []

    def write(path: Path) -> tuple[IndexFile, ...]:
        merged.append(write_merged_corpus(path, corpus, parts, manifest.settings))
        return merged[0].files

    folder, files = stage_corpus_folder(index_dir, corpus.name, write)
    record = corpus_record(corpus, merged[0])
    others = tuple(c for c in manifest.corpora if c.name != corpus.name)
    new = replace(manifest, corpora=(*others, placed(record, folder, files)), updated_at=utc_now())
    return commit_change(index_dir, manifest, new)


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("clearance")
    except PackageNotFoundError:
        return "unknown"
