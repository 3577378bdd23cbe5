"""The scanner: one object, loaded once from an index folder, that every surface calls.

The HTTP API, the shard scan and the gate all hold a ``Scanner`` and call ``scan`` or
``scan_many``; none of them knows about n-grams or embeddings.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import faiss

from indexer.embedding import Embedder, model_fingerprint
from indexer.fingerprints import NgramSettings
from indexer.manifest import IndexSettings, check_compatible
from indexer.normalize import NormalizationSettings, TextMode
from indexer.store import ReferenceIndex
from service.allowlist import Allowlist
from service.document import Document
from service.paraphrase import ParaphraseMatcher, ParaphraseSettings
from service.policy import Policy
from service.results import NearMiss, ScanResult
from service.scoring import ItemEvidence, score_document
from service.verbatim import VerbatimMatcher, VerbatimSettings

log = logging.getLogger(__name__)

TIERS = ("verbatim", "paraphrase")


def parse_tiers(text: str) -> tuple[str, ...]:
    """ "verbatim, paraphrase" -> ("verbatim", "paraphrase"), as the command line takes them."""
    return tuple(t.strip() for t in text.split(",") if t.strip())


@dataclass(frozen=True)
class ScanSettings:
    """How the scanner works; thresholds for decisions live in ``Policy``."""

    tiers: tuple[str, ...] = TIERS
    # Matches weaker than this are left out of results: a shared stock phrase is not news.
    min_report_risk: float = 0.2
    verbatim: VerbatimSettings = field(default_factory=VerbatimSettings)
    paraphrase: ParaphraseSettings = field(default_factory=ParaphraseSettings)
    # Threads for the embedding model (torch or ONNX Runtime) and for FAISS's searches (its
    # OpenMP pool, process-wide); None: every core.
    threads: int | None = None
    # Paraphrase candidates the verifier did not accept, reported per document that has no
    # accepted one (``ScanResult.near_misses``); 0 reports none and costs nothing.
    near_misses: int = 0

    def __post_init__(self) -> None:
        unknown = set(self.tiers) - set(TIERS)
        if unknown or not self.tiers:
            raise ValueError(f"tiers must be a non-empty subset of {TIERS}, got {self.tiers}")


class Scanner:
    """Scores documents against a reference index.

    >>> scanner = Scanner.load("demo-index")                      # doctest: +SKIP
    >>> result = scanner.scan("Natalia sold clips to 48 of her friends ...")  # doctest: +SKIP
    >>> result.decision, [m.ref_id for m in result.matches]        # doctest: +SKIP
    (<Decision.REMOVE: 'remove'>, ['gsm8k-test/0'])
    """

    def __init__(
        self,
        index: ReferenceIndex,
        *,
        policy: Policy | None = None,
        settings: ScanSettings | None = None,
        embedder: Embedder | None = None,
        backend: str | None = None,
        allowlist: Allowlist | None = None,
    ):
        self.index = index
        self.policy = policy or Policy()
        # Reviewers' dismissals: matches it covers are reported as allowed, not counted.
        self.allowlist = allowlist
        self.settings = settings or ScanSettings()
        self.verbatim = (
            VerbatimMatcher(index, self.policy, self.settings.verbatim)
            if "verbatim" in self.settings.tiers
            else None
        )
        self.paraphrase = None
        if self.settings.threads:
            # A worker that owns one core: FAISS's pool of one thread per core, in each of a
            # pool's workers, spent 13% more CPU a page spinning (benchmarks/shard_scan.py).
            faiss.omp_set_num_threads(self.settings.threads)
        if "paraphrase" in self.settings.tiers:
            embedding = index.manifest.settings.embedding
            if backend:
                embedding = replace(embedding, backend=backend)
            embedder = embedder or Embedder(embedding, self.settings.threads)
            self.paraphrase = ParaphraseMatcher(
                index, self.policy, embedder, self.settings.paraphrase
            )

    @classmethod
    def load(
        cls,
        index_dir: Path | str,
        *,
        policy: Policy | None = None,
        settings: ScanSettings | None = None,
        model: str | None = None,
        backend: str | None = None,
        embedder: Embedder | None = None,
        allowlist: Allowlist | None = None,
    ) -> Scanner:
        """Open an index and check that this scanner reads it the way it was written.

        ``model`` states what the caller expects (e.g. from configuration): an index built
        from another model, or other weights of it, is refused with ``IndexMismatchError``.
        ``backend`` (``auto``, ``onnx-fp32``, ``torch-fp32``, ``torch-bf16``) is how this
        scanner runs the model: any backend of the same weights reads any index.
        """
        index = ReferenceIndex.open(index_dir)
        settings = settings or ScanSettings()
        built = index.manifest.settings
        expected = IndexSettings(
            normalization=NormalizationSettings(),
            chunking=built.chunking,
            # Gram lengths and seed follow the index; the hash function is this code's own.
            ngrams=replace(built.ngrams, hash=NgramSettings().hash),
            embedding=replace(built.embedding, model=model or built.embedding.model),
            vectors=built.vectors,
            static=built.static,
        )
        # The weights only matter when embeddings are compared; another model name is refused
        # below without looking for its weights.
        same_name = expected.embedding.model == built.embedding.model
        fingerprint = (
            model_fingerprint(expected.embedding.model)
            if "paraphrase" in settings.tiers and same_name
            else index.manifest.model_fingerprint
        )
        check_compatible(index.manifest, expected, fingerprint)
        if "paraphrase" in settings.tiers:
            index.static_embedder  # noqa: B018 - checks the static model before any scan
        # The compiled tokenizer and hash loops load on first use (numba's start, about a
        # second): a loaded scanner has paid it, not its first request or its first shard.
        warm = Document("warm up", index.manifest.settings)
        for mode in TextMode:
            warm.token_hashes(mode)
        return cls(
            index,
            policy=policy,
            settings=settings,
            embedder=embedder,
            backend=backend,
            allowlist=allowlist,
        )

    def scan(self, text: str, *, doc_id: str | None = None) -> ScanResult:
        """Scan one document."""
        return self.scan_many([text], ids=[doc_id])[0]

    def scan_many(
        self, texts: Sequence[str], *, ids: Sequence[str | None] | None = None
    ) -> list[ScanResult]:
        """Scan several documents; the paraphrase tier embeds their windows in shared batches."""
        ids = list(ids) if ids is not None else [None] * len(texts)
        if len(ids) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(ids)} ids")
        settings = self.index.manifest.settings
        docs = [Document(text, settings, doc_id) for text, doc_id in zip(texts, ids, strict=True)]
        found: list[list[ItemEvidence]] = [[] for _ in docs]
        if self.verbatim is not None:
            for bucket, more in zip(found, self.verbatim.find_many(docs), strict=True):
                bucket.extend(more)
        misses: list[list[NearMiss]] = [[] for _ in docs]
        if self.paraphrase is not None:
            extra, misses = self.paraphrase.find_many(
                docs, found, self.settings.near_misses, self.allowlist
            )
            for bucket, more in zip(found, extra, strict=True):
                bucket.extend(more)
        results = [
            score_document(doc, bucket, self.policy, self.settings.min_report_risk, self.allowlist)
            for doc, bucket in zip(docs, found, strict=True)
        ]
        if self.settings.near_misses and "paraphrase" in self.settings.tiers:
            results = [
                replace(result, near_misses=tuple(miss))
                for result, miss in zip(results, misses, strict=True)
            ]
        return results
