"""The transformer run by ONNX Runtime: torch fp32's vectors without importing torch.

The transformer now only checks the few candidate pairs per page the verifier might accept, so
a scanner (``clearance scan``, each shard-scan worker, the HTTP server) pays more for starting
the model than for running it: importing sentence-transformers and torch takes 5.5-7 s, an
onnxruntime session with a ``tokenizers`` tokenizer well under one (BENCHMARKS.md).

The model's transformer is exported to ONNX once per weights (the only step that needs torch)
and cached next to the distilled static models, keyed by the weights' checksum; tokenization,
mean pooling and normalization are done here, the way sentence-transformers does them.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path

import numpy as np

from indexer.embedding import (
    ModelNotAvailableError,
    model_dimension,
    model_fingerprint,
    resolve_model_path,
)
from indexer.static_embedding import cache_root

log = logging.getLogger(__name__)

# The opset STACK-FACTS.md measured (cosine 1 to torch fp32); part of the cache key.
OPSET = 17
ONNX_FILE = "model.onnx"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# The module chain this encoder reproduces; anything else (a Dense layer, CLS pooling) is
# refused rather than embedded differently from torch.
_SUPPORTED_MODULES = ("Transformer", "Pooling", "Normalize")


class OnnxExportError(ModelNotAvailableError):
    """The model cannot be exported to, or run with, ONNX Runtime; use a torch backend."""


def check_exportable(model_dir: Path) -> None:
    """Refuse a model whose modules are not transformer + mean pooling (+ normalize)."""
    modules = json.loads((model_dir / "modules.json").read_text(encoding="utf-8"))
    kinds = [module.get("type", "").rsplit(".", 1)[-1] for module in modules]
    if kinds[:2] != ["Transformer", "Pooling"] or not set(kinds) <= set(_SUPPORTED_MODULES):
        raise OnnxExportError(
            f"the onnx-fp32 backend runs transformer + mean pooling models; {model_dir} has "
            f"{kinds}: use --backend torch-fp32"
        )
    pooling = next(m for m in modules if m.get("type", "").endswith("Pooling"))
    config = json.loads((model_dir / pooling["path"] / "config.json").read_text())
    modes = {key for key, value in config.items() if key.startswith("pooling_mode_") and value}
    if modes != {"pooling_mode_mean_tokens"}:
        raise OnnxExportError(
            f"the onnx-fp32 backend does mean pooling only; {model_dir} pools by {sorted(modes)}: "
            "use --backend torch-fp32"
        )


def max_seq_length(model_dir: Path) -> int:
    """Tokens the model reads, as sentence-transformers decides: its own config, else BERT's."""
    config = model_dir / "sentence_bert_config.json"
    if config.exists():
        value = json.loads(config.read_text(encoding="utf-8")).get("max_seq_length")
        if value:
            return int(value)
    return int(json.loads((model_dir / "config.json").read_text())["max_position_embeddings"])


def exported_model_path(model: str) -> Path:
    """The cached ONNX export of ``model``'s transformer, exported on first use.

    Export imports torch and transformers (about 10 s on two cores), once per machine and
    weights; ``clearance model export-onnx`` runs it ahead of time. Concurrent scanners wait
    for one another on a file lock, and the file appears whole or not at all.
    """
    model_dir = resolve_model_path(model)
    check_exportable(model_dir)
    name = f"{model_fingerprint(model).removeprefix('sha256:')[:16]}-opset{OPSET}"
    target = cache_root() / "onnx" / name / ONNX_FILE
    if target.exists():
        return target
    try:
        _export_once(model_dir, target)
    except OSError as exc:  # e.g. a read-only cache in a container that skipped the export
        raise OnnxExportError(
            f"cannot write the ONNX export to {target} ({exc}); run `clearance model "
            "export-onnx` where CLEARANCE_CACHE_DIR is writable, or use --backend torch-fp32"
        ) from exc
    return target


def _export_once(model_dir: Path, target: Path) -> None:
    """Export under a file lock, into a temporary file renamed into place."""
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.parent) + ".lock"):
        if target.exists():  # another process exported it while we waited
            return
        log.info("exporting %s to ONNX into %s", model_dir, target)
        tmp = target.with_name(f"{ONNX_FILE}.tmp-{os.getpid()}")
        _export(model_dir, tmp)
        os.replace(tmp, target)


def _export(model_dir: Path, out: Path) -> None:
    """Trace the transformer (TorchScript exporter: the dynamo one needs onnxscript) to ``out``."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    import transformers

    transformers.utils.logging.disable_progress_bar()
    # The load report (an unused position_ids buffer) and the tracer's warnings about shapes
    # taken as constants say nothing to a user: the test compares the export with torch.
    transformers.utils.logging.set_verbosity_error()
    # Eager attention traces to plain ops; the output is the same as with SDPA.
    model = transformers.AutoModel.from_pretrained(
        str(model_dir), local_files_only=True, attn_implementation="eager"
    ).eval()

    class _Hidden(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    ids = torch.ones((2, 16), dtype=torch.int64)
    axes = {name: {0: "batch", 1: "sequence"} for name in (*INPUTS, "last_hidden_state")}
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Hidden(model),
                (ids, torch.ones_like(ids), torch.zeros_like(ids)),
                str(out),
                dynamo=False,
                opset_version=OPSET,
                input_names=list(INPUTS),
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
            )
    except Exception as exc:  # the exporter raises plain errors for ops it cannot trace
        out.unlink(missing_ok=True)
        raise OnnxExportError(f"cannot export {model_dir} to ONNX: {exc}") from exc


class OnnxEncoder:
    """One forward pass of the exported transformer per batch, pooled and left unnormalized.

    ``Embedder`` batches and normalizes; this class only turns texts into pooled vectors.
    """

    def __init__(self, model: str, threads: int | None = None):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model_dir = resolve_model_path(model)
        path = exported_model_path(model)
        self.max_seq_length = max_seq_length(model_dir)
        tokenizer_file = model_dir / "tokenizer.json"
        if not tokenizer_file.exists():
            raise ModelNotAvailableError(f"the onnx-fp32 backend needs {tokenizer_file}")
        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        # MiniLM's tokenizer.json pads and truncates to 128; sentence-transformers reads 256.
        self._tokenizer.enable_truncation(max_length=self.max_seq_length)
        self._tokenizer.no_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or 0  # 0: one per physical core
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # Idle pool threads would otherwise spin between the scanner's few calls, taking CPU
        # from the verbatim tier and the sieves running in the same process.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.dimension = model_dimension(model)

    def token_lengths(self, texts: list[str]) -> list[int]:
        return [len(e.ids) for e in self._tokenizer.encode_batch_fast(texts)]

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch_fast(texts)
        width = max(len(e.ids) for e in encodings)
        feeds = {name: np.zeros((len(texts), width), dtype=np.int64) for name in INPUTS}
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            feeds["input_ids"][row, :n] = encoding.ids
            feeds["attention_mask"][row, :n] = 1
            feeds["token_type_ids"][row, :n] = encoding.type_ids
        (hidden,) = self._session.run(None, feeds)
        mask = feeds["attention_mask"][:, :, None].astype(np.float32)
        return (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
