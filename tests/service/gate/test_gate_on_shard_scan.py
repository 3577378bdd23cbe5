"""The gate on the real output of ``clearance scan-shards`` (JSONL+zstd and Parquet shards)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli import app
from service.gate import GatePolicy, evaluate, gate
from tests.service.gate.conftest import scan_shard_folder

POLICY = GatePolicy.from_dict(
    {
        "max_rejected_share": 0.05,
        "kinds": {"benchmark": {"max_flagged_share": 0.0}, "copyright": {"max_risk": 1.0}},
        "corpora": {"gsm8k-test": {"zero_tolerance": True}},
    }
)


@pytest.mark.parametrize("output", ["annotated", "split"])
def test_gate_reads_a_real_shard_scan(output, shard_inputs, small_index, gate_results, tmp_path):
    out = scan_shard_folder(shard_inputs, small_index, tmp_path / "scan-out", output)

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
