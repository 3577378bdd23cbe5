"""``--from-results``: scan results files and scan-shards output folders, checked on reading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from indexer.manifest import IndexMismatchError
from service.cli import app
from service.gate import GateInputError, GatePolicy, evaluate, gate, read_results
from tests.service.gate.conftest import scan_shard_folder

REJECTED_LINE = '{"text": oops'
POLICY = GatePolicy.from_dict(
    {
        "max_rejected_share": 0.05,
        "kinds": {"benchmark": {"max_flagged_share": 0.0}},
        "corpora": {"gsm8k-test": {"zero_tolerance": True}},
    }
)


def rules_of(verdict):
    return [r.to_dict() for r in verdict.rules]


def test_scan_results_file_reads_every_record_including_rejects(scan_results_jsonl):
    records = list(read_results(scan_results_jsonl))
    assert len(records) == 61
    assert records[-1]["decision"] is None and "not a string" in records[-1]["error"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "malformed JSON"),
        ('{"id": "d1", "text": "plain document"}', "drop --from-results to scan them"),
        ('{"id": "d1", "decision": "maybe", "risk": 0.1, "matches": []}', "keep, review or remove"),
        ('{"id": "d1", "decision": null}', "must say why"),
        (
            '{"id": "d1", "decision": "keep", "risk": "low", "matches": []}',
            "'risk' must be a number",
        ),
        (
            '{"id": "d1", "decision": "keep", "risk": 0.3, "matches": [{"ref_id": "7"}]}',
            "a match lacks corpus, kind, risk, decision",
        ),
    ],
)
def test_bad_results_line_stops_the_gate_with_its_line(scan_results_jsonl, tmp_path, line, message):
    path = tmp_path / "results.jsonl"
    good = scan_results_jsonl.read_text(encoding="utf-8").splitlines()[:2]
    path.write_text("\n".join([*good, line]) + "\n", encoding="utf-8")

    with pytest.raises(GateInputError, match=message) as caught:
        gate(results=[path], policy=POLICY)
    assert caught.value.line == 3


def test_gate_on_shard_scan_folder_matches_the_scan(shard_folder, small_index, gate_results):
    verdict = gate(results=[shard_folder], policy=POLICY, index=small_index)
    rejected = {"id": "x", "decision": None, "error": "malformed JSON"}
    expected = evaluate([*gate_results, rejected], POLICY)

    assert verdict.counts == expected.counts
    assert (verdict.counts.scanned, verdict.counts.rejected) == (60, 1)
    assert rules_of(verdict) == rules_of(expected)
    assert [r.rule for r in verdict.failures] == [
        "kinds.benchmark.max_flagged_share",
        "corpora.gsm8k-test.zero_tolerance",
    ]


def test_split_output_folders_give_the_same_verdict(
    tmp_path, small_index, shard_inputs, shard_folder
):
    split = scan_shard_folder(shard_inputs, small_index, tmp_path / "split", "split")
    assert sorted(p.name for p in split.iterdir()) == [
        ".lock",
        ".staging",
        "_done",
        "keep",
        "rejects",
        "remove",
        "report.html",
        "report.json",
        "review",
        "run.json",
    ]
    verdict = gate(results=[split], policy=POLICY)
    annotated = gate(results=[shard_folder], policy=POLICY)
    assert rules_of(verdict)[1:] == rules_of(annotated)[1:]  # all but the rejects rule


def test_cli_gate_on_shard_scan_folder_exits_1_on_failure(shard_folder, small_index, tmp_path):
    policy = tmp_path / "gate.yaml"
    policy.write_text(
        "max_rejected_share: 0.05\ncorpora:\n  gsm8k-test:\n    zero_tolerance: true\n",
        encoding="utf-8",
    )
    run = CliRunner().invoke(
        app,
        [
            "gate",
            "--from-results",
            "--index",
            str(small_index),
            "--policy",
            str(policy),
            "--report",
            str(tmp_path / "r.json"),
            str(shard_folder),
        ],
    )
    assert run.exit_code == 1, run.output
    assert "FAIL  corpora.gsm8k-test.zero_tolerance: 3 > 0" in run.output
    assert "pass  max_rejected_share: 1.64% <= 5.00%" in run.output


def test_incomplete_or_altered_shard_folders_are_refused(shard_folder, tmp_path):
    import shutil

    incomplete = tmp_path / "incomplete"
    shutil.copytree(shard_folder, incomplete)
    report = json.loads((incomplete / "report.json").read_text(encoding="utf-8"))
    report["complete"] = False
    report["totals"]["shards_done"] = 1
    (incomplete / "report.json").write_text(json.dumps(report), encoding="utf-8")
    with pytest.raises(GateInputError, match=r"incomplete \(1 of 2 shards done\)"):
        gate(results=[incomplete], policy=POLICY)

    altered = tmp_path / "altered"
    shutil.copytree(shard_folder, altered)
    (altered / "rejects" / "part-0001.jsonl.zst").write_text("", encoding="utf-8")
    with pytest.raises(
        GateInputError,
        match="report says 30 scanned and 1 rejected, its output files hold 30 and 0",
    ):
        gate(results=[altered], policy=POLICY)
    (altered / "rejects" / "part-0001.jsonl.zst").unlink()
    with pytest.raises(GateInputError, match=r"listed in report\.json but missing"):
        gate(results=[altered], policy=POLICY)

    with pytest.raises(GateInputError, match="not a scan-shards output folder"):
        gate(results=[tmp_path], policy=POLICY)


def test_shard_folder_scanned_with_another_index_is_a_mismatch(shard_folder, tmp_path, other_index):
    other = other_index
    with pytest.raises(IndexMismatchError, match="corpora differ"):
        gate(results=[shard_folder], policy=GatePolicy.from_dict({}), index=other)

    run = CliRunner().invoke(
        app,
        [
            "gate",
            "--from-results",
            "--index",
            str(other),
            "--policy",
            str(_empty_policy(tmp_path)),
            "--report",
            str(tmp_path / "r.json"),
            str(shard_folder),
        ],
    )
    assert run.exit_code == 2 and "corpora differ" in run.stderr


def _empty_policy(tmp_path: Path) -> Path:
    path = tmp_path / "empty.toml"
    path.write_text("# defaults only\n", encoding="utf-8")
    return path
