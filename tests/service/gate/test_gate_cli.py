"""``clearance gate`` exit codes, the contract with CI: 0 pass, 1 policy failure, 2 error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli import app

FAILING = """\
[kinds.benchmark]
max_flagged_share = 0.0
[corpora."gsm8k-test"]
zero_tolerance = true
"""
PASSING = """\
max_rejected_share = 0.05
[overall]
max_flagged_share = 0.05
[corpora."mmlu-test"]
zero_tolerance = true
"""


@pytest.fixture
def policies(tmp_path) -> dict[str, Path]:
    paths = {}
    for name, text in {
        "failing": FAILING,
        "passing": PASSING,
        "broken": FAILING.replace("max_flagged_share = 0.0", "max_flagged_share = 2"),
    }.items():
        paths[name] = tmp_path / f"{name}.toml"
        paths[name].write_text(text, encoding="utf-8")
    return paths


def run_gate(*args: str | Path):
    return CliRunner().invoke(app, ["gate", *map(str, args)])


def test_exit_0_on_pass_with_summary_and_report(small_index, docs_jsonl, policies, tmp_path):
    report = tmp_path / "out" / "gate.json"
    run = run_gate(
        "--index",
        small_index,
        "--policy",
        policies["passing"],
        "--tiers",
        "verbatim",
        "--report",
        report,
        docs_jsonl,
    )

    assert run.exit_code == 0, run.output
    assert "clearance gate: PASS" in run.output
    assert "pass  overall.max_flagged_share: 5.00% <= 5.00%" in run.output
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["passed"] is True and data["documents"]["scanned"] == 60


def test_exit_1_on_policy_failure_names_rules_and_documents(
    small_index, docs_jsonl, policies, tmp_path
):
    report = tmp_path / "gate.json"
    run = run_gate(
        "--index",
        small_index,
        "--policy",
        policies["failing"],
        "--tiers",
        "verbatim",
        "--report",
        report,
        docs_jsonl,
    )

    assert run.exit_code == 1, run.output
    assert "clearance gate: FAIL" in run.output
    assert "FAIL  kinds.benchmark.max_flagged_share: 3.33% > 0.00%" in run.output
    assert "FAIL  corpora.gsm8k-test.zero_tolerance: 3 > 0" in run.output
    assert "c4-110: risk 1.00 remove, gsm8k-test/" in run.output
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["failed_rules"] == [
        "kinds.benchmark.max_flagged_share",
        "corpora.gsm8k-test.zero_tolerance",
    ]


def test_from_results_rereads_a_scan_without_an_index(scan_results_jsonl, policies, tmp_path):
    run = run_gate(
        "--from-results", "--policy", policies["passing"], "--report", "-", scan_results_jsonl
    )

    assert run.exit_code == 0, run.output
    data = json.loads(run.stdout)
    assert data["documents"]["rejected"] == 1 and data["passed"] is True
    assert "clearance gate: PASS" in run.stderr  # the summary moves aside for the JSON


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("bad policy", "broken.toml:2: kinds.benchmark.max_flagged_share"),
        ("missing input", "absent.jsonl: does not exist"),
        ("no index", "is not a Clearance index"),
        ("scan without index", "scanning needs --index"),
        ("documents given as results", "drop --from-results to scan them"),
        ("unknown corpus", "no corpus 'gsm8k-tset'"),
        ("index mismatch", "the index was built with other settings"),
    ],
)
def test_exit_2_when_the_gate_cannot_decide(
    case, message, small_index, mismatched_index, docs_jsonl, policies, tmp_path
):
    index = ["--index", small_index, "--tiers", "verbatim"]
    typo = tmp_path / "typo.toml"
    typo.write_text(FAILING.replace("gsm8k-test", "gsm8k-tset"), encoding="utf-8")
    args = {
        "bad policy": [*index, "--policy", policies["broken"], docs_jsonl],
        "missing input": [*index, "--policy", policies["passing"], tmp_path / "absent.jsonl"],
        "no index": ["--index", tmp_path, "--policy", policies["passing"], docs_jsonl],
        "scan without index": ["--policy", policies["passing"], docs_jsonl],
        "documents given as results": [
            "--from-results",
            "--policy",
            policies["passing"],
            docs_jsonl,
        ],
        "unknown corpus": [*index, "--policy", typo, docs_jsonl],
        "index mismatch": [
            "--index",
            mismatched_index,
            "--tiers",
            "verbatim",
            "--policy",
            policies["passing"],
            docs_jsonl,
        ],
    }[case]
    report = tmp_path / "gate.json"
    run = run_gate("--report", report, *args)

    assert run.exit_code == 2, run.output
    assert message in " ".join(run.stderr.split()), run.stderr
    assert not report.exists()  # no report that a pipeline could mistake for a verdict


def test_usage_error_is_exit_2():
    assert run_gate("--policy").exit_code == 2


def test_installed_command_exit_codes(small_index, docs_jsonl, policies, tmp_path):
    """The real console script in a real process, as CI runs it."""
    script = Path(sys.executable).with_name("clearance")
    common = [
        "--index",
        str(small_index),
        "--tiers",
        "verbatim",
        "--report",
        str(tmp_path / "r.json"),
        str(docs_jsonl),
    ]

    def code(policy: Path) -> int:
        done = subprocess.run(
            [str(script), "gate", "--policy", str(policy), *common],
            capture_output=True,
            text=True,
            timeout=120,
        )
        return done.returncode

    assert [code(policies[p]) for p in ("passing", "failing", "broken")] == [0, 1, 2]


def test_allowlisted_matches_do_not_fail_the_gate(
    small_index, docs_jsonl, gate_results, policies, tmp_path
):
    allowlist = tmp_path / "allowlist.jsonl"
    dismissed = [
        {"level": "document", "doc_id": r["id"], "corpus": m["corpus"], "ref_id": m["ref_id"]}
        for r in gate_results
        for m in r["matches"]
        if m["kind"] == "benchmark"
    ]
    allowlist.write_text("".join(json.dumps(e) + "\n" for e in dismissed), encoding="utf-8")
    saved = tmp_path / "results.jsonl"
    scan = ("--index", small_index, "--policy", policies["failing"], "--tiers", "verbatim")
    report = ("--report", tmp_path / "gate.json")

    assert run_gate(*scan, *report, "--results-out", saved, docs_jsonl).exit_code == 1
    allowed = run_gate(*scan, *report, "--allowlist", allowlist, docs_jsonl)
    assert allowed.exit_code == 0, allowed.output
    regate = ("--from-results", "--policy", policies["failing"], *report, saved)
    assert run_gate(*regate).exit_code == 1
    assert run_gate(*regate, "--allowlist", allowlist).exit_code == 0
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"level": "document"}\n', encoding="utf-8")
    refused = run_gate(*regate, "--allowlist", broken)
    assert refused.exit_code == 2 and "broken.jsonl:1" in refused.output
