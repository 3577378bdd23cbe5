"""The gate on the real output of ``clearance scan-shards`` (JSONL+zstd and Parquet shards).

Needs the shard scan (service/shards, branch ``shards``); on a tree without it this module is
skipped, and test_gate_results_input.py checks the same reader against the documented layout.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from typer.testing import CliRunner

from service.cli import app
from service.gate import GatePolicy, evaluate, gate

shards = pytest.importorskip("service.shards", reason="the shard scan is not in this tree")

POLICY = GatePolicy.from_dict(
    {
        "max_rejected_share": 0.05,
        "kinds": {"benchmark": {"max_flagged_share": 0.0}, "copyright": {"max_risk": 1.0}},
        "corpora": {"gsm8k-test": {"zero_tolerance": True}},
    }
)


@pytest.fixture(scope="module")
def shard_inputs(tmp_path_factory, gate_docs) -> Path:
    """The test shard as two real shards: 30 documents + a broken line, and 30 in Parquet."""
    folder = tmp_path_factory.mktemp("shard-inputs")
    lines = [json.dumps(d) for d in gate_docs[:30]] + ['{"text": oops']
    data = ("\n".join(lines) + "\n").encode("utf-8")
    (folder / "part-0001.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(data))
    pq.write_table(pa.Table.from_pylist(gate_docs[30:]), folder / "part-0002.parquet")
    return folder


@pytest.mark.parametrize("output", ["annotated", "split"])
def test_gate_reads_a_real_shard_scan(output, shard_inputs, small_index, gate_results, tmp_path):
    out = tmp_path / "scan-out"
    run = shards.scan_shards(
        [shard_inputs],
        index=small_index,
        out=out,
        output=output,
        tiers=("verbatim",),
        workers=1,
        progress=False,
    )
    assert run.complete

    verdict = gate(results=[out], policy=POLICY, index=small_index)

    rejected = {"id": "x", "decision": None, "error": "malformed JSON"}
    expected = evaluate([*gate_results, rejected], POLICY)
    assert (verdict.counts.scanned, verdict.counts.rejected) == (60, 1)
    assert verdict.counts == expected.counts
    assert [r.to_dict() for r in verdict.rules] == [r.to_dict() for r in expected.rules]
    assert [r.rule for r in verdict.failures] == [
        "kinds.benchmark.max_flagged_share",
        "corpora.gsm8k-test.zero_tolerance",
    ]

    cli = CliRunner().invoke(
        app,
        [
            "gate",
            "--from-results",
            "--index",
            str(small_index),
            "--policy",
            str(_policy_file(tmp_path)),
            "--report",
            str(tmp_path / "r.json"),
            str(out),
        ],
    )
    assert cli.exit_code == 1, cli.output
    assert "FAIL  corpora.gsm8k-test.zero_tolerance: 3 > 0" in cli.output


def _policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "gate.toml"
    path.write_text(
        'max_rejected_share = 0.05\n[corpora."gsm8k-test"]\nzero_tolerance = true\n',
        encoding="utf-8",
    )
    return path
