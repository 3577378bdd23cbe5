"""One part of a corpus build: a run of consecutive items, fingerprinted and embedded alone.

Every per-passage step of a build (tokenize, chunk, n-gram and rare-term fingerprints, static
vectors) reads one item only, and that is nearly all of a build's time (94-97% for five books:
BENCHMARKS.md). So a corpus is cut into parts that any process or Ray worker builds with
``build_part``, and the merge puts them back in order: item and passage numbers shifted
by the parts before, postings sorted once over all of them (``indexer.part_merge``). The result
is the same files, byte for byte, as a build in one piece, whoever built which part.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from indexer.chunking import Passage, chunk_passages
from indexer.corpus import Corpus, ReferenceItem
from indexer.fingerprints import gram_length_for, ngram_hashes, tokenized_hashes
from indexer.normalize import TextMode, TokenizedText, tokenize
from indexer.static_embedding import StaticEmbedder
from indexer.terms import distinct_mass, term_bag

if TYPE_CHECKING:
    from indexer.manifest import IndexSettings

# (total, label, unit) -> advance(step); the unit is what is counted: items, passages.
ProgressFactory = Callable[[int, str, str], Callable[[int], None]]

# Raised when what a part holds, or how it is computed, changes: a part left by an older
# build is then built again rather than reused. 2: static vectors kept as float16.
PART_FORMAT = 2


def no_progress(total: int, label: str, unit: str) -> Callable[[int], None]:
    return lambda step: None


def items_sha256(items: Iterable[ReferenceItem]) -> str:
    """SHA-256 over ids, texts and metadata in order.

    Metadata counts because a loader's ``prompt_end`` decides passages and scoring keys.
    """
    digest = hashlib.sha256()
    for item in items:
        meta = json.dumps(dict(item.meta), sort_keys=True, ensure_ascii=False, default=str)
        for part in (item.id, item.text, meta):
            digest.update(part.encode("utf-8") + b"\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class PartTask:
    """Items ``first_item ..`` of a corpus, and a key naming everything their part depends on."""

    key: str
    corpus: str
    first_item: int
    mode: TextMode
    items: tuple[ReferenceItem, ...]

    @property
    def chars(self) -> int:
        return sum(len(item.text) for item in self.items)


def whole_corpus(corpus: Corpus) -> PartTask:
    """All of a corpus as one part, for a build that is neither split nor kept (``index add``)."""
    return PartTask("", corpus.name, 0, corpus.mode, tuple(corpus.items))


def cut_parts(corpus: Corpus, part_chars: int, build_key: str) -> list[PartTask]:
    """Consecutive items of about ``part_chars`` characters each (an item is never split).

    ``build_key`` stands for the settings and static model: with the part's mode and items it
    makes the part's key, so a part is reused only by a build that would compute it the same.
    """
    if part_chars < 1:
        raise ValueError(f"part size must be at least 1 character, got {part_chars}")
    ends = []
    chars = 0
    for end, item in enumerate(corpus.items, start=1):
        chars += len(item.text)
        if chars >= part_chars:
            ends.append(end)
            chars = 0
    if not ends or ends[-1] < len(corpus.items):
        ends.append(len(corpus.items))  # the rest; an empty corpus is one empty part
    tasks = []
    for first, end in zip([0, *ends], ends, strict=False):
        items = tuple(corpus.items[first:end])
        content = f"{PART_FORMAT}\0{build_key}\0{corpus.mode.value}\0{items_sha256(items)}"
        key = hashlib.sha256(content.encode("utf-8")).hexdigest()[:32]
        tasks.append(PartTask(key, corpus.name, first, corpus.mode, items))
    return tasks


@dataclass
class PartArrays:
    """What one part contributes to its corpus's arrays; numbers are local to the part."""

    item_stats: np.ndarray  # (items, 5) float32, as ``item_stats.npy``
    passages: np.ndarray  # (passages, 5) int64, the item number within the part
    gram_hashes: np.ndarray  # uint64: each passage's distinct grams, passage after passage
    gram_counts: np.ndarray  # int32 per passage (``passage_grams.npy``)
    term_hashes: np.ndarray  # uint64: each passage's rare terms, passage after passage
    term_counts: np.ndarray  # int32 per passage
    term_stats: np.ndarray  # (passages, 2) float32, as ``passage_terms.npy``
    vectors: np.ndarray  # (passages, static dimension) float16 (``PART_VECTORS``)
    gram_lengths: np.ndarray  # int64, the distinct gram lengths used
    without_ngrams: int

    def array(self, name: str) -> np.ndarray:
        """A field by name, as ``StoredPart.array`` reads it from the part's file."""
        counts = self._counts()
        return counts[name] if name in counts else getattr(self, name)

    def save(self, path: Path) -> None:
        with Path(path).open("wb") as handle:
            np.savez(handle, **{name: getattr(self, name) for name in _ARRAYS}, **self._counts())

    def _counts(self) -> dict[str, np.ndarray]:
        return {"without_ngrams": np.asarray(self.without_ngrams, dtype=np.int64)}


@dataclass(frozen=True)
class StoredPart:
    """A part's file, read one array at a time: a merge holds one part's arrays, not all."""

    path: Path

    def array(self, name: str) -> np.ndarray:
        with np.load(self.path, allow_pickle=False) as data:
            return data[name]


_ARRAYS = (
    "item_stats",
    "passages",
    "gram_hashes",
    "gram_counts",
    "term_hashes",
    "term_counts",
    "term_stats",
    "vectors",
    "gram_lengths",
)


# A part's static vectors are rounded to float16: they are 40% of a part's bytes in float32
# (1 KB a passage; 13 GB of parts at 100x the books, on a disk that must also hold the index),
# a static candidate search is approximate anyway (IVF codes above 50,000 passages), and the
# transformer verifies every candidate. Every build rounds them, in parts or in one piece, so
# the index is the same whoever built it.
PART_VECTORS = np.float16


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


def item_stats(item: ReferenceItem, tokens: TokenizedText, settings: IndexSettings) -> tuple:
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


def build_part(
    task: PartTask,
    settings: IndexSettings,
    static: StaticEmbedder,
    progress: ProgressFactory = no_progress,
) -> PartArrays:
    """Tokenize, chunk, fingerprint, weigh rare terms and embed the items of one part.

    No transformer runs here: the paraphrase
    tier embeds a passage with it only when a window becomes a candidate for that passage, and
    caches it (``service.paraphrase``).
    """
    rows: list[tuple[int, int, int, int, int]] = []
    texts: list[str] = []
    grams_of: list[np.ndarray] = []
    terms_of: list[np.ndarray] = []
    term_stats: list[tuple[float, int]] = []
    stats: list[tuple] = []
    gram_lengths: set[int] = set()
    without_ngrams = 0
    seed = settings.ngrams.seed
    advance = progress(len(task.items), f"{task.corpus}: fingerprints", "item")
    for item_no, item in enumerate(task.items):
        tokens = tokenize(item.text, task.mode, settings.normalization)
        stats.append(item_stats(item, tokens, settings))
        gram_length = gram_length_for(len(tokens), task.mode, settings.ngrams)
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
                if task.mode is TextMode.PROSE
                else tokenize(text, TextMode.PROSE, settings.normalization).tokens
            )
            terms = term_bag(prose, settings.terms, seed)
            rows.append(
                (
                    item_no,
                    passage.token_start,
                    passage.token_end,
                    passage.char_start,
                    passage.char_end,
                )
            )
            texts.append(text)
            grams_of.append(np.unique(grams[passage.token_start : last_gram]))
            terms_of.append(terms.hashes)
            term_stats.append((terms.mass, len(prose)))
        advance(1)
    return PartArrays(
        item_stats=np.asarray(stats, dtype=np.float32).reshape(-1, 5),
        passages=np.asarray(rows, dtype=np.int64).reshape(-1, 5),
        gram_hashes=_joined(grams_of),
        gram_counts=np.asarray([len(g) for g in grams_of], dtype=np.int32),
        term_hashes=_joined(terms_of),
        term_counts=np.asarray([len(t) for t in terms_of], dtype=np.int32),
        term_stats=np.asarray(term_stats, dtype=np.float32).reshape(-1, 2),
        vectors=_embed_passages(texts, static, progress, task.corpus).astype(PART_VECTORS),
        gram_lengths=np.asarray(sorted(gram_lengths), dtype=np.int64),
        without_ngrams=without_ngrams,
    )


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts).astype(np.uint64) if parts else np.empty(0, dtype=np.uint64)


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
