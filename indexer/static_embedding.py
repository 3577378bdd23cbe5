"""Static embeddings: the paraphrase tier's cheap candidate stage.

A static model (one vector per word piece, a text's vector the mean of its pieces) is distilled
offline from the index's transformer with ``model2vec``: every vocabulary token is run through
all-MiniLM-L6-v2 once, then reduced by PCA and weighted by token rarity (SIF). It embeds a
window in microseconds where MiniLM takes milliseconds, and for every hand-written GSM8K
rephrasing it put the right test item first among all 1,319, as MiniLM did
(``../shared/STACK-FACTS.md``). So every window of every document can be looked at, and the
transformer runs only on the few pairs the verifier might accept.

The distilled model is cached per transformer fingerprint and settings, and a copy is written
into each index (``static_model/``): passages and windows must be embedded by the very same
vectors, and distillation on another CPU may round a few of them differently.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexer.compiled import compiled_on_first_use
from indexer.files import sha256_of

log = logging.getLogger(__name__)

STATIC_DIR = "static_model"
_WEIGHTS = "model.safetensors"


class StaticModelError(RuntimeError):
    """The static model cannot be distilled or read."""


@dataclass(frozen=True)
class StaticSettings:
    """How the static model is distilled; recorded in the index manifest."""

    # 256 of MiniLM's 384 dimensions keep the ranking of the hand-written rephrasings
    # (STACK-FACTS.md) at two thirds of the search cost.
    pca_dims: int = 256
    # model2vec's default rarity weighting: frequent pieces ("the", "##s") weigh little.
    sif_coefficient: float = 1e-4


def cache_root() -> Path:
    """Where distilled models are kept between runs (``CLEARANCE_CACHE_DIR`` overrides)."""
    configured = os.environ.get("CLEARANCE_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "clearance"


def weights_checksum(model_dir: Path) -> str:
    return "sha256:" + sha256_of(Path(model_dir) / _WEIGHTS)


def distilled_model_dir(
    transformer_dir: Path, transformer_fingerprint: str, settings: StaticSettings
) -> Path:
    """The cached static model for this transformer and settings, distilled on first use.

    Distillation runs the transformer over its 30,000-piece vocabulary: about two minutes on
    two cores, once per machine. ``clearance model distill`` runs it ahead of time.
    """
    name = (
        f"{transformer_fingerprint.removeprefix('sha256:')[:16]}"
        f"-pca{settings.pca_dims}-sif{settings.sif_coefficient:g}"
    )
    target = cache_root() / "static" / name
    if (target / _WEIGHTS).exists():
        return target
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / _WEIGHTS).exists():  # another process distilled it while we waited
            return target
        log.info("distilling a static model from %s into %s", transformer_dir, target)
        model = _distill(transformer_dir, settings)
        tmp = target.with_name(target.name + f".tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(str(tmp))
        os.replace(tmp, target)
    return target


def _distill(transformer_dir: Path, settings: StaticSettings):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import transformers
    from model2vec.distill import distill

    transformers.utils.logging.disable_progress_bar()
    try:
        return distill(
            model_name=str(transformer_dir),
            pca_dims=settings.pca_dims,
            sif_coefficient=settings.sif_coefficient,
            device="cpu",
        )
    except Exception as exc:  # model2vec raises plain errors for a model it cannot read
        raise StaticModelError(
            f"cannot distill a static model from {transformer_dir}: {exc}"
        ) from exc


def copy_into_index(model_dir: Path, index_dir: Path) -> Path:
    """Copy the static model into the index folder (atomically) unless it is already there."""
    target = Path(index_dir) / STATIC_DIR
    if (target / _WEIGHTS).exists():
        return target
    tmp = Path(index_dir) / f".{STATIC_DIR}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(model_dir, tmp)
    os.replace(tmp, target)
    return target


class StaticEmbedder:
    """Mean of word-piece vectors, L2-normalized, in float32.

    ``encode_spans`` embeds many spans of one text from a single tokenization through prefix
    sums: every window of a page costs one subtraction each. ``encode`` gives the same vector
    for a span's own text, up to pieces cut at a span edge, which never happens at the word
    boundaries windows and passages start and end on.

    >>> static = StaticEmbedder(Path("INDEX_DIR/static_model"))  # doctest: +SKIP
    >>> static.encode(["Natalia sold clips to 48 of her friends"]).shape  # doctest: +SKIP
    (1, 256)
    """

    def __init__(self, model_dir: Path):
        from tokenizers import Tokenizer

        model_dir = Path(model_dir)
        if not (model_dir / _WEIGHTS).exists():
            raise StaticModelError(f"no static model in {model_dir} (missing {_WEIGHTS})")
        from safetensors.numpy import load_file

        tensors = load_file(str(model_dir / _WEIGHTS))
        vectors = tensors.get("embeddings")
        if vectors is None:
            vectors = next(iter(tensors.values()))
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.dimension = int(self.vectors.shape[1])
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        self._unk = self._tokenizer.token_to_id("[UNK]")

    def _known(self, ids: list[int]) -> np.ndarray:
        """Piece ids without the unknown piece, which model2vec drops too."""
        array = np.asarray(ids, dtype=np.int64)
        return array[array != self._unk] if self._unk is not None else array

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        # encode_batch_fast skips offset tracking, which only ``encode_spans`` needs.
        encodings = self._tokenizer.encode_batch_fast(texts, add_special_tokens=False)
        for row, encoding in enumerate(encodings):
            ids = self._known(encoding.ids)
            if len(ids):
                out[row] = self.vectors[ids].mean(axis=0)
        return _normalized(out)

    def encode_spans(self, text: str, spans: np.ndarray) -> np.ndarray:
        """Vectors of ``text[start:end]`` for each ``(start, end)`` row of character ``spans``."""
        spans = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
        encoding = self._tokenizer.encode(text, add_special_tokens=False)
        all_ids = np.asarray(encoding.ids, dtype=np.int64)
        keep = all_ids != self._unk if self._unk is not None else np.ones(len(all_ids), bool)
        ids = all_ids[keep]
        starts = np.asarray([start for start, _ in encoding.offsets], dtype=np.int64)[keep]
        first = np.searchsorted(starts, spans[:, 0], side="left")
        last = np.searchsorted(starts, spans[:, 1], side="left")
        out = np.empty((len(spans), self.dimension), dtype=np.float32)
        _span_sums(self.vectors, ids, first, last, out)
        return _normalized(out)


@compiled_on_first_use
def _span_sums(vectors, ids, first, last, out):  # pragma: no cover - compiled
    """``out[w]``: the sum of ``vectors[ids[first[w]:last[w]]]``, as a float64 prefix sum's
    difference. numpy's ``cumsum`` down the rows of a 256-wide matrix strides through memory
    and cost 1.2 ms a C4 page, 8x this loop; the sums are the same, row after row."""
    rows, dims = len(ids), vectors.shape[1]
    sums = np.zeros((rows + 1, dims), dtype=np.float64)
    for row in range(rows):
        source = vectors[ids[row]]
        for d in range(dims):
            sums[row + 1, d] = sums[row, d] + source[d]
    for w in range(len(first)):
        for d in range(dims):
            out[w, d] = sums[last[w], d] - sums[first[w], d]


def _normalized(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
