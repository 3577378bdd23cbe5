from __future__ import annotations

import json

import numpy as np
import pytest

from indexer.embedding import token_batches
from tests.conftest import TORCH_MODULES, fresh_process_output


def test_token_batches_cover_every_text_once_within_the_budget():
    lengths = [12, 300, 40, 40, 7, 128, 600, 64, 64, 64, 20, 256, 33]
    batches = list(token_batches(lengths, max_count=8, max_tokens=512))
    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) <= 8
        padded = len(batch) * max(lengths[i] for i in batch)
        # Only a text longer than the budget may exceed it, and it goes alone.
        assert padded <= 512 or len(batch) == 1
    # Shortest first, so texts of like length share a batch and little is padding.
    assert [lengths[i] for i in flat] == sorted(lengths)


def test_short_texts_fill_a_batch_up_to_the_count():
    batches = list(token_batches([10] * 70, max_count=32))
    assert [len(b) for b in batches] == [32, 32, 6]


def test_encode_keeps_input_order_across_batches(embedder):
    """Texts of very different lengths land in different batches; rows must still follow input."""
    long = " ".join(["The committee reviewed the annual budget for the city library."] * 20)
    texts = ["A man plays a flute.", long, "Two dogs run on the beach.", long + " Again.", "Hi"]
    together = embedder.encode(texts)
    alone = np.vstack([embedder.encode([text]) for text in texts])
    assert together.shape == (5, embedder.dimension)
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    # bf16 kernels may round a little differently by batch shape; the same text stays the same.
    assert (np.sum(together * alone, axis=1) > 0.999).all()


def test_auto_backend_is_onnx_where_the_model_exports_else_bfloat16_where_the_cpu_has_it(
    tmp_path,
):
    from indexer.embedding import cpu_has_bf16, resolve_backend

    assert resolve_backend("auto") == "onnx-fp32"
    for backend in ("torch-fp32", "torch-bf16", "onnx-fp32"):
        assert resolve_backend(backend) == backend
    # A model onnx-fp32 does not reproduce (CLS pooling) falls back to torch, per CPU.
    (tmp_path / "1_Pooling").mkdir()
    modules = [
        {"path": "", "type": "sentence_transformers.models.Transformer"},
        {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    pooling = {"word_embedding_dimension": 384, "pooling_mode_cls_token": True}
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    expected = "torch-bf16" if cpu_has_bf16() else "torch-fp32"
    assert resolve_backend("auto", str(tmp_path)) == expected


def _windows(web_docs: list[str]) -> list[str]:
    """Real C4 windows, plus a text past the 256-token limit and two very short ones."""
    texts = [" ".join(doc.split()[:120]) for doc in web_docs[:24]]
    return [*texts, " ".join(web_docs[30].split()[:400]), "Hi", "Two dogs run on the beach."]


@pytest.fixture(scope="module")
def torch_fp32_vectors(web_docs) -> tuple[list[str], np.ndarray]:
    """The reference every backend is compared with, encoded once for this module."""
    from indexer.embedding import Embedder, EmbeddingSettings

    texts = _windows(web_docs)
    embedder = Embedder(EmbeddingSettings(backend="torch-fp32"))
    assert embedder.backend == "torch-fp32"
    return texts, embedder.encode(texts)


def test_fp32_and_bf16_embeddings_agree_within_the_recorded_tolerance(torch_fp32_vectors):
    """Any backend reads any index: their vectors agree (BENCHMARKS.md records the spread)."""
    from indexer.embedding import Embedder, EmbeddingSettings

    texts, fp32 = torch_fp32_vectors
    bf16 = Embedder(EmbeddingSettings(backend="torch-bf16")).encode(texts)
    assert ((fp32 * bf16).sum(axis=1) > 0.99).all()


def test_onnx_fp32_gives_the_vectors_of_torch_fp32(torch_fp32_vectors):
    """Measured cosine 1.000000 (mean and min over 1,024 texts, BENCHMARKS.md); 0.9999 leaves
    room for another CPU's kernels, and fails at once on a wrong mask, pooling or truncation."""
    from indexer.embedding import Embedder, EmbeddingSettings

    texts, fp32 = torch_fp32_vectors
    onnx = Embedder(EmbeddingSettings(backend="onnx-fp32"))
    assert (onnx.backend, onnx.dimension, onnx.max_seq_length) == ("onnx-fp32", 384, 256)
    vectors = onnx.encode(texts)
    assert vectors.dtype == np.float32 and vectors.shape == fp32.shape
    assert ((vectors * fp32).sum(axis=1) > 0.9999).all()


def test_onnx_fp32_encodes_without_importing_torch():
    """The point of the backend: a scanner process starts without torch's 7 s import."""
    code = (
        "import sys\n"
        "from indexer.embedding import Embedder, EmbeddingSettings\n"
        "Embedder(EmbeddingSettings(backend='onnx-fp32')).encode(['A man plays a flute.'])\n"
        f"print([name for name in {TORCH_MODULES!r} if name in sys.modules])\n"
    )
    assert fresh_process_output(code) == "[]"
