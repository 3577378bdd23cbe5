"""Building an index: reference corpora in, an index folder with its manifest out.

``build_index`` and ``add_corpora`` are the public entry points; ``clearance index build`` and
``clearance index add`` are thin wrappers over them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from indexer.chunking import Passage, chunk_passages
from indexer.corpus import Corpus, ReferenceItem
from indexer.embedding import model_dimension, model_fingerprint, resolve_model_path
from indexer.fingerprints import gram_length_for, ngram_hashes, tokenized_hashes
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
from indexer.normalize import TextMode, TokenizedText, tokenize
from indexer.static_embedding import (
    STATIC_DIR,
    StaticEmbedder,
    copy_into_index,
    distilled_model_dir,
    weights_checksum,
)
from indexer.store import CORPORA_DIR, CorpusArrays, open_static_model, write_corpus_arrays
from indexer.terms import TermBag, distinct_mass, term_bag
from indexer.vector_index import build_vector_index, vector_index_kind

log = logging.getLogger(__name__)

# (total, label, unit) -> advance(step); the unit is what is counted: items, passages.
ProgressFactory = Callable[[int, str, str], Callable[[int], None]]


def _no_progress(total: int, label: str, unit: str) -> Callable[[int], None]:
    return lambda step: None


def corpus_checksum(corpus: Corpus) -> str:
    """SHA-256 over ids, texts and metadata in order: equal checksums, same index content.

    Metadata counts because a loader's ``prompt_end`` decides passages and scoring keys.
    """
    digest = hashlib.sha256()
    for item in corpus.items:
        meta = json.dumps(dict(item.meta), sort_keys=True, ensure_ascii=False, default=str)
        for part in (item.id, item.text, meta):
            digest.update(part.encode("utf-8") + b"\0")
    return "sha256:" + digest.hexdigest()


class _PassageTable:
    """Accumulates passages, their n-gram and rare-term postings while a corpus is read."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, int, int, int, int]] = []
        self.texts: list[str] = []
        self.gram_parts: list[np.ndarray] = []
        self.gram_owners: list[np.ndarray] = []
        self.gram_counts: list[int] = []
        self.term_parts: list[np.ndarray] = []
        self.term_owners: list[np.ndarray] = []
        self.term_stats: list[tuple[float, int]] = []

    def add(
        self,
        item_no: int,
        text: str,
        passage: Passage,
        grams: np.ndarray,
        terms: TermBag,
        prose_tokens: int,
    ) -> None:
        passage_id = len(self.rows)
        self.rows.append(
            (item_no, passage.token_start, passage.token_end, passage.char_start, passage.char_end)
        )
        self.texts.append(text)
        distinct = np.unique(grams)
        self.gram_parts.append(distinct)
        self.gram_owners.append(np.full(len(distinct), passage_id, dtype=np.uint32))
        self.gram_counts.append(len(distinct))
        self.term_parts.append(terms.hashes)
        self.term_owners.append(np.full(len(terms.hashes), passage_id, dtype=np.uint32))
        self.term_stats.append((terms.mass, prose_tokens))

    @staticmethod
    def postings(
        parts: list[np.ndarray], owners: list[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Concatenate and sort by hash (then passage), the layout ``searchsorted`` needs."""
        if not parts:
            return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.uint32)
        hashes, passages = np.concatenate(parts), np.concatenate(owners)
        order = np.lexsort((passages, hashes))
        return hashes[order], passages[order]


# A prompt shorter than this share of its item gets a passage of its own.
PROMPT_PASSAGE_MAX_SHARE = 0.8


def item_passages(
    item: ReferenceItem, tokens: TokenizedText, settings: IndexSettings
) -> list[Passage]:
    """Overlapping passages of an item, plus its prompt alone when the loader marked one.

    A reworded test item is usually the question without its solution; an embedding of the
    question alone is much closer to it than one of question plus solution, and its numbers
    and rare terms are the ones a rewording keeps. So the prompt gets a passage of its own even
    when the whole item fits in one, unless the prompt is nearly all of it (a multiple-choice
    item whose answer is one letter).
    """
    passages = chunk_passages(tokens, settings.chunking)
    prompt_end = item.meta.get("prompt_end") if item.meta else None
    if isinstance(prompt_end, int):
        inside = int(np.searchsorted(tokens.ends, prompt_end, side="right"))
        if (
            0 < inside <= PROMPT_PASSAGE_MAX_SHARE * len(tokens)
            and inside <= settings.chunking.passage_tokens
        ):
            prompt = Passage(0, inside, int(tokens.starts[0]), int(tokens.ends[inside - 1]))
            if prompt not in passages:
                passages.insert(0, prompt)
    return passages


def _tokens_before(item: ReferenceItem, tokens: TokenizedText, field: str, default: int) -> int:
    end = item.meta.get(field) if item.meta else None
    if not isinstance(end, int):
        return default
    return min(max(1, int(np.searchsorted(tokens.ends, end, side="right"))), len(tokens))


def _item_stats(item: ReferenceItem, tokens: TokenizedText, settings: IndexSettings) -> tuple:
    """Tokens and rare-term mass of the item and of its key, and the length of its stem.

    The key is the prompt (``prompt_end``: what the model is asked, without the answer), the
    stem the question alone (``stem_end``; the key when not marked). Scoring asks how much of
    the key a document holds, and that the stem is there: a test question copied without its
    solution is contamination, a shared answer option or a stock stem is not.
    """
    mass = distinct_mass(tokens.tokens, settings.terms)
    key = _tokens_before(item, tokens, "prompt_end", len(tokens))
    key_mass = distinct_mass(tokens.tokens[:key], settings.terms) if key < len(tokens) else mass
    stem = min(_tokens_before(item, tokens, "stem_end", key), key)
    return len(tokens), mass, key, key_mass, stem


def build_corpus_arrays(
    corpus: Corpus,
    settings: IndexSettings,
    static: StaticEmbedder,
    progress: ProgressFactory = _no_progress,
) -> tuple[CorpusArrays, CorpusRecord]:
    """Tokenize, chunk, fingerprint, weigh rare terms and embed one corpus (static vectors).

    No transformer runs here: the paraphrase tier embeds a passage with it only when a window
    becomes a candidate for that passage, and caches it (``service.paraphrase``).
    """
    table = _PassageTable()
    item_stats: list[tuple] = []
    gram_lengths: set[int] = set()
    without_ngrams = 0
    seed = settings.ngrams.seed
    advance = progress(len(corpus.items), f"{corpus.name}: fingerprints", "item")
    for item_no, item in enumerate(corpus.items):
        tokens = tokenize(item.text, corpus.mode, settings.normalization)
        item_stats.append(_item_stats(item, tokens, settings))
        gram_length = gram_length_for(len(tokens), corpus.mode, settings.ngrams)
        if gram_length:
            gram_lengths.add(gram_length)
            grams = ngram_hashes(tokenized_hashes(tokens, seed), gram_length)
        else:
            without_ngrams += 1
            grams = np.empty(0, dtype=np.uint64)
        for passage in item_passages(item, tokens, settings):
            text = item.text[passage.char_start : passage.char_end]
            last_gram = max(passage.token_end - (gram_length or 0) + 1, passage.token_start)
            prose = (
                tokens.tokens[passage.token_start : passage.token_end]
                if corpus.mode is TextMode.PROSE
                else tokenize(text, TextMode.PROSE, settings.normalization).tokens
            )
            table.add(
                item_no,
                text,
                passage,
                grams[passage.token_start : last_gram],
                term_bag(prose, settings.terms, seed),
                len(prose),
            )
        advance(1)

    gram_hashes, gram_passages = table.postings(table.gram_parts, table.gram_owners)
    term_hashes, term_passages = table.postings(table.term_parts, table.term_owners)
    vector_index = build_vector_index(
        _embed_passages(table.texts, static, progress, corpus.name), settings.vectors
    )
    arrays = CorpusArrays(
        ids=[item.id for item in corpus.items],
        metas=[dict(item.meta) for item in corpus.items],
        texts=[item.text for item in corpus.items],
        item_stats=np.asarray(item_stats, dtype=np.float32).reshape(-1, 5),
        passages=np.asarray(table.rows, dtype=np.int64).reshape(-1, 5),
        ngram_hashes=gram_hashes,
        ngram_passages=gram_passages,
        passage_grams=np.asarray(table.gram_counts, dtype=np.int32),
        term_hashes=term_hashes,
        term_passages=term_passages,
        passage_terms=np.asarray(table.term_stats, dtype=np.float32).reshape(-1, 2),
        static_vectors=vector_index,
    )
    record = CorpusRecord(
        name=corpus.name,
        kind=corpus.kind,
        mode=corpus.mode,
        items=len(corpus.items),
        passages=len(table.rows),
        tokens=int(sum(s[0] for s in item_stats)),
        ngrams=len(gram_hashes),
        checksum=corpus_checksum(corpus),
        vector_index=vector_index_kind(vector_index),
        built_at=utc_now(),
        source=corpus.source,
        license=corpus.license,
        items_without_ngrams=without_ngrams,
        gram_lengths=tuple(sorted(gram_lengths)),
    )
    return arrays, record


def _embed_passages(
    texts: list[str], static: StaticEmbedder, progress: ProgressFactory, label: str
) -> np.ndarray:
    advance = progress(len(texts), f"{label}: static vectors", "passage")
    vectors = []
    chunk = 4096  # bounded memory and a live progress bar on large corpora
    for start in range(0, len(texts), chunk):
        batch = texts[start : start + chunk]
        vectors.append(static.encode(batch))
        advance(len(batch))
    if not vectors:
        return np.empty((0, static.dimension), dtype=np.float32)
    return np.concatenate(vectors)


def build_index(
    out: Path | str,
    corpora: Sequence[Corpus],
    *,
    settings: IndexSettings | None = None,
    progress: ProgressFactory = _no_progress,
    overwrite: bool = False,
) -> IndexManifest:
    """Build a new index folder from ``corpora``.

    >>> from indexer.corpus import read_reference_jsonl
    >>> build_index("my-index", read_reference_jsonl("refs.jsonl"))  # doctest: +SKIP
    """
    out = Path(out)
    settings = settings or IndexSettings()
    if (out / MANIFEST_NAME).exists() and not overwrite:
        raise ClearanceIndexError(
            f"{out} already holds an index; use `clearance index add` to add corpora, "
            "or --overwrite to rebuild it"
        )
    if not corpora:
        raise ClearanceIndexError("nothing to index: no corpora were given")
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
    with changing(out):
        for corpus in corpora:
            manifest = _add_one(out, manifest, corpus, static, progress)
    return manifest


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
    progress: ProgressFactory = _no_progress,
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
    progress: ProgressFactory = _no_progress,
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
) -> IndexManifest:
    log.info("indexing corpus %s (%d items)", corpus.name, len(corpus.items))
    arrays, record = build_corpus_arrays(corpus, manifest.settings, static, progress)
    folder, files = stage_corpus_folder(
        index_dir, corpus.name, lambda path: write_corpus_arrays(path, arrays)
    )
    others = tuple(c for c in manifest.corpora if c.name != corpus.name)
    new = replace(manifest, corpora=(*others, placed(record, folder, files)), updated_at=utc_now())
    return commit_change(index_dir, manifest, new)


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("clearance")
    except PackageNotFoundError:
        return "unknown"
