from __future__ import annotations

import numpy as np

from indexer.embedding import token_batches


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


def test_auto_backend_is_bfloat16_only_where_the_cpu_has_it():
    from indexer.embedding import cpu_has_bf16, resolve_backend

    assert resolve_backend("auto") == ("torch-bf16" if cpu_has_bf16() else "torch-fp32")
    assert resolve_backend("torch-fp32") == "torch-fp32"
    assert resolve_backend("torch-bf16") == "torch-bf16"


def test_fp32_and_bf16_embeddings_agree_within_the_recorded_tolerance(web_docs):
    """Any backend reads any index: their vectors agree (BENCHMARKS.md records the spread)."""
    from indexer.embedding import Embedder, EmbeddingSettings

    texts = [" ".join(doc.split()[:120]) for doc in web_docs[:24]]
    fp32 = Embedder(EmbeddingSettings(backend="torch-fp32")).encode(texts)
    bf16 = Embedder(EmbeddingSettings(backend="torch-bf16")).encode(texts)
    assert ((fp32 * bf16).sum(axis=1) > 0.99).all()
