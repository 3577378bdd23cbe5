"""Resuming: a killed scan, rerun, ends with exactly the outputs of an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from service.scanner import Scanner, ScanSettings
from service.shards import scan_shards
from service.shards.errors import ShardScanConfigError
from service.shards.layout import OutputLayout
from service.shards.results import read_report
from service.shards.run import find_shards
from service.shards.task import ShardAbandoned, ShardScanOptions, scan_shard
from tests.service.shards.shard_helpers import outputs_by_location, plant, same_counts, write_jsonl

CLEARANCE = str(Path(sys.executable).with_name("clearance"))
FORMATS = ("jsonl", "jsonl.gz", "jsonl.zst", "parquet", "jsonl", "jsonl.gz")


@pytest.fixture(scope="module")
def crash_shards(tmp_path_factory, data_root, small_corpora) -> Path:
    """Six shards of 120 real C4 pages each, one per format in turn, some with GSM8K items."""
    folder = tmp_path_factory.mktemp("crash") / "in"
    docs = [
        json.loads(line)["text"]
        for name in ("c4_sample_1000", "llamafactory_c4_demo_300")
        for line in (data_root / "web" / f"{name}.jsonl").open(encoding="utf-8")
    ]
    for n, fmt in enumerate(FORMATS):
        texts = docs[n * 120 : (n + 1) * 120]
        texts[n] = plant(texts[n], small_corpora[0].items[n].text)
        path = folder / f"part-{n}.{fmt}"
        if fmt == "parquet":
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(
                pa.table({"text": texts, "n": list(range(len(texts)))}), path, row_group_size=25
            )
        else:
            lines = [json.dumps({"text": t, "n": i}).encode() for i, t in enumerate(texts)]
            write_jsonl(path, lines, fmt.split(".")[1] if "." in fmt else None)
    return folder


def half_written(staging: Path) -> bool:
    """True if a staged output has bytes in it (files come and go while we look)."""
    try:
        return any(path.is_file() and path.stat().st_size for path in staging.rglob("*"))
    except FileNotFoundError:
        return False


def scan_command(index: Path, out: Path, inputs: Path) -> list[str]:
    return [
        CLEARANCE,
        "scan-shards",
        "--index",
        str(index),
        "--out",
        str(out),
        str(inputs),
        "--tiers",
        "verbatim",
        "--workers",
        "1",
        "--batch-size",
        "8",
        "--no-progress",
    ]


def test_killed_scan_reruns_to_the_same_outputs_as_an_uninterrupted_one(
    crash_shards, small_index, small_corpora, tmp_path
):
    clean, crashed = tmp_path / "clean", tmp_path / "crashed"
    subprocess.run(scan_command(small_index, clean, crash_shards), check=True, capture_output=True)

    run = subprocess.Popen(
        scan_command(small_index, crashed, crash_shards),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and run.poll() is None:
        if list((crashed / "_done").glob("*.json")) and half_written(crashed / ".staging"):
            break  # one shard committed, the next one half written
        time.sleep(0.02)
    assert run.poll() is None, "the scan finished before it could be killed"
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    done_at_kill = {p.name for p in (crashed / "_done").glob("*.json")}
    assert 1 <= len(done_at_kill) < len(FORMATS)
    assert not (crashed / "report.json").exists()

    rerun = subprocess.run(
        scan_command(small_index, crashed, crash_shards), capture_output=True, text=True
    )
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(done_at_kill)} from before" in rerun.stderr

    expected = outputs_by_location(clean)
    assert len(expected) == 6 * 120
    got = outputs_by_location(crashed)
    assert got.keys() == expected.keys()
    assert all(got[k].data == expected[k].data for k in expected)
    assert not list((crashed / ".staging").rglob("*.*"))
    report, clean_report = read_report(crashed), read_report(clean)
    assert same_counts(report, clean_report) == []
    flagged = {i["ref_id"] for i in report["benchmarks"]["gsm8k-test"]["items"]}
    assert {item.id for item in small_corpora[0].items[:6]} <= flagged


def test_rerun_skips_done_shards_and_refuses_other_settings(shard_set, small_index, tmp_path):
    out = tmp_path / "out"
    first = scan_shards(
        shard_set.inputs, index=small_index, out=out, tiers=("verbatim",), workers=1, progress=False
    )
    annotated = out / "annotated" / "a.jsonl"
    before = annotated.stat().st_mtime_ns
    again = scan_shards(
        shard_set.inputs, index=small_index, out=out, tiers=("verbatim",), workers=1, progress=False
    )
    assert again.scanned == [] and sorted(again.skipped) == sorted(first.scanned)
    assert annotated.stat().st_mtime_ns == before
    assert again.report["totals"] == first.report["totals"]
    with pytest.raises(ShardScanConfigError, match="output"):
        scan_shards(
            shard_set.inputs,
            index=small_index,
            out=out,
            tiers=("verbatim",),
            output="split",
            progress=False,
        )


def test_changed_shard_and_leftovers_of_a_half_commit_are_redone(shard_set, small_index, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    shard = inputs / "a.jsonl"
    shard.write_bytes((shard_set.folder / "a.jsonl").read_bytes())
    out = tmp_path / "out"
    scan_shards(
        [inputs],
        index=small_index,
        out=out,
        tiers=("verbatim",),
        output="split",
        workers=1,
        progress=False,
    )
    # A crash between moving outputs into place and writing the marker leaves files and no
    # marker; a shard whose input changed is not done either. Both must be redone cleanly.
    (out / "_done" / "a.jsonl.json").unlink()
    assert (out / "remove" / "a.jsonl").exists() and not (out / "review").exists()
    (out / "review").mkdir()
    (out / "review" / "a.jsonl").write_text('{"stale": true}\n')
    lines = shard.read_bytes().splitlines()
    shard.write_bytes(b"\n".join(lines[:20]) + b"\n")
    result = scan_shards(
        [inputs],
        index=small_index,
        out=out,
        tiers=("verbatim",),
        output="split",
        workers=1,
        progress=False,
    )
    assert result.scanned == ["a.jsonl"]
    assert not (out / "review" / "a.jsonl").exists()
    found = outputs_by_location(out)
    assert len(found) == 19  # 20 lines, one of them blank
    assert result.report["totals"]["records"] == 19


def test_a_shard_whose_run_is_gone_commits_nothing(shard_set, small_index, tmp_path):
    scanner = Scanner.load(small_index, settings=ScanSettings(tiers=("verbatim",)))
    layout = OutputLayout(tmp_path / "out")
    shard = next(s for s in find_shards(shard_set.inputs) if s.key == "a.jsonl")
    with pytest.raises(ShardAbandoned):
        scan_shard(scanner, shard, layout, ShardScanOptions(), still_wanted=lambda: False)
    assert not [p for p in layout.root.rglob("*") if p.is_file()]
