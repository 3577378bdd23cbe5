"""Writes a `clearance scan-shards` output folder in the documented layout v1.

The layout is service/shards/README.md (committed on the shards branch): ``report.json`` with
schema ``clearance.scan-shards.report/1``, ``run.json`` with the index and its corpora,
``annotated/`` (or ``keep/``, ``review/``, ``remove/``) shards whose records carry a
``clearance`` result, and ``rejects/<shard>.jsonl``. Records and results come from real scans;
only the folder is assembled here, so the gate can be tested against the documented contract
before the shard scan itself is merged.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from indexer.manifest import read_manifest


def clearance_field(result: dict[str, Any], file: str, line: int | None, row: int | None):
    """A result as the layout stores it: no evidence list, plus where the record came from."""
    matches = [{k: v for k, v in m.items() if k != "evidence"} for m in result["matches"]]
    return {**result, "matches": matches, "source": {"file": file, "line": line, "row": row}}


def write_shard_folder(
    root: Path,
    index: Path,
    shards: list[tuple[str, list[dict[str, str]], list[dict[str, Any]]]],
    rejects: dict[str, list[str]] | None = None,
    *,
    split: bool = False,
) -> Path:
    """``shards``: (shard key, documents, their scan results); ``rejects``: raw bad lines."""
    rejects = rejects or {}
    manifest = read_manifest(index)
    root.mkdir(parents=True)
    (root / "run.json").write_text(
        json.dumps(
            {
                "index": str(index.resolve()),
                "index_corpora": {c.name: c.checksum for c in manifest.corpora},
                "tiers": ["verbatim"],
                "output": "split" if split else "annotated",
            }
        ),
        encoding="utf-8",
    )
    entries = []
    for key, docs, results in shards:
        outputs: list[str] = []
        groups: dict[str, list[tuple[dict[str, str], dict[str, Any]]]] = {}
        for doc, result in zip(docs, results, strict=True):
            folder = result["decision"] if split else "annotated"
            groups.setdefault(folder, []).append((doc, result))
        for folder, pairs in groups.items():
            relative = f"{folder}/{key}"
            _write_records(root / relative, key, pairs)
            outputs.append(relative)
        bad = rejects.get(key, [])
        if bad:
            relative = f"rejects/{key}.jsonl"
            (root / "rejects").mkdir(exist_ok=True)
            with (root / relative).open("w", encoding="utf-8") as handle:
                for number, raw in enumerate(bad, start=len(docs) + 1):
                    handle.write(
                        json.dumps(
                            {
                                "id": f"{key}:{number}",
                                "source": {"file": key, "line": number, "row": None},
                                "reason": "malformed JSON: Expecting value",
                                "reason_kind": "malformed_json",
                                "raw": raw,
                            }
                        )
                        + "\n"
                    )
            outputs.append(relative)
        decisions = {
            d: sum(r["decision"] == d for r in results) for d in ("keep", "review", "remove")
        }
        entries.append(
            {
                "file": key,
                "format": key.split(".", 1)[1],
                "done": True,
                "records": len(docs) + len(bad),
                "scanned": len(docs),
                "rejected": len(bad),
                "decisions": decisions,
                "outputs": outputs,
            }
        )
    (root / "report.json").write_text(
        json.dumps(
            {
                "schema": "clearance.scan-shards.report/1",
                "complete": True,
                "totals": {"shards": len(entries), "shards_done": len(entries)},
                "shards": entries,
            }
        ),
        encoding="utf-8",
    )
    return root


def _write_records(path: Path, key: str, pairs: list[tuple[dict[str, str], dict[str, Any]]]):
    path.parent.mkdir(parents=True, exist_ok=True)
    if key.endswith(".parquet"):
        rows = [
            {**doc, "clearance": clearance_field(result, key, None, row)}
            for row, (doc, result) in enumerate(pairs)
        ]
        pq.write_table(pa.Table.from_pylist(rows), path)
        return
    lines = [
        json.dumps({**doc, "clearance": clearance_field(result, key, number, None)})
        for number, (doc, result) in enumerate(pairs, start=1)
    ]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    if key.endswith(".zst"):
        data = zstandard.ZstdCompressor().compress(data)
    elif key.endswith(".gz"):
        data = gzip.compress(data)
    path.write_bytes(data)
