"""Shards that cannot be read fail alone, visibly, and are retried by the next run."""

from __future__ import annotations

import gzip
import shutil

from typer.testing import CliRunner

from service.cli import app
from service.shards.results import read_report
from tests.service.shards.shard_helpers import outputs_by_location


def test_truncated_and_corrupt_shards_fail_alone_and_a_rerun_finishes(
    shard_set, small_index, tmp_path
):
    inputs = tmp_path / "in"
    shutil.copytree(shard_set.folder, inputs)
    good_gz = (inputs / "b.jsonl.gz").read_bytes()
    (inputs / "b.jsonl.gz").write_bytes(good_gz[: len(good_gz) // 2])  # cut mid-stream
    good_zst = (inputs / "c.jsonl.zst").read_bytes()
    (inputs / "c.jsonl.zst").write_bytes(good_zst[: len(good_zst) - 100])
    (inputs / "extra" / "f.parquet").write_bytes(b"PAR1 this is not parquet")
    out = tmp_path / "out"
    args = [
        "scan-shards",
        "--index",
        str(small_index),
        "--out",
        str(out),
        str(inputs),
        "--tiers",
        "verbatim",
        "--workers",
        "2",
        "--no-progress",
    ]

    first = CliRunner().invoke(app, args)
    assert first.exit_code == 1
    output = " ".join(first.output.split())
    assert "3 shard(s) failed" in output and "failed: b.jsonl.gz" in output
    report = read_report(out)
    assert not report["complete"] and report["totals"]["shards_done"] == 3
    failed = {s["file"]: s["error"] for s in report["shards"] if not s["done"]}
    assert set(failed) == {"b.jsonl.gz", "c.jsonl.zst", "extra/f.parquet"} and all(failed.values())
    assert not (out / "annotated" / "b.jsonl.gz").exists()  # nothing half-written

    (inputs / "b.jsonl.gz").write_bytes(good_gz)
    (inputs / "c.jsonl.zst").write_bytes(good_zst)
    shutil.copy(shard_set.folder / "extra" / "f.parquet", inputs / "extra" / "f.parquet")
    second = CliRunner().invoke(app, args)
    assert second.exit_code == 0, second.output
    assert "3 now, 3 from before" in " ".join(second.output.split())
    assert read_report(out)["complete"]
    assert outputs_by_location(out).keys() == shard_set.expected.keys()
    assert len(gzip.decompress((out / "annotated" / "b.jsonl.gz").read_bytes()).splitlines()) == 30


def test_bad_invocations_get_one_line_errors(small_index, shard_set, tmp_path):
    runner = CliRunner()
    base = ["scan-shards", "--index", str(small_index), "--tiers", "verbatim", "--no-progress"]
    cases = {
        "does not exist": [*base, "--out", str(tmp_path / "o1"), str(tmp_path / "missing.jsonl")],
        # A JSON document is one record; the index manifest has no "text", so nothing is scanned.
        "the only record was rejected": [
            *base,
            "--out",
            str(tmp_path / "o2"),
            str(small_index / "manifest.json"),
        ],
        "inside the output folder": [*base, "--out", str(shard_set.folder), str(shard_set.folder)],
        "not a clearance index": [
            "scan-shards",
            "--index",
            str(tmp_path),
            "--out",
            str(tmp_path / "o3"),
            str(shard_set.folder),
        ],
        "--output must be annotated or split": [
            *base,
            "--output",
            "sorted",
            "--out",
            str(tmp_path / "o5"),
            str(shard_set.folder),
        ],
        "--engine must be local or ray": [
            *base,
            "--engine",
            "spark",
            "--out",
            str(tmp_path / "o6"),
            str(shard_set.folder),
        ],
        "tiers must be": [
            *base,
            "--tiers",
            "fuzzy",
            "--out",
            str(tmp_path / "o4"),
            str(shard_set.folder),
        ],
    }
    for message, args in cases.items():
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (message, result.output)
        output = " ".join(result.output.split())  # rich wraps long lines
        assert message in output.lower() and "Traceback" not in output
