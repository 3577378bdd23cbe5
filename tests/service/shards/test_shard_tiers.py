"""Both tiers through the shard scan."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from indexer.readers import SourceLocation
from service.shards import scan_shards
from service.shards.results import read_report
from tests.service.shards.shard_helpers import outputs_by_location

CLEARANCE = str(Path(sys.executable).with_name("clearance"))


@pytest.mark.slow
def test_both_tiers_find_at_least_what_the_verbatim_tier_finds(
    annotated_run, shard_set, small_index, tmp_path
):
    result = scan_shards(
        shard_set.inputs, index=small_index, out=tmp_path / "out", progress=False
    )  # default tiers: verbatim and paraphrase
    both = outputs_by_location(tmp_path / "out")
    verbatim = outputs_by_location(annotated_run.out_dir)
    assert both.keys() == verbatim.keys() == shard_set.expected.keys()
    for where, (corpus, ref_id) in shard_set.planted.items():
        top = both[where].clearance["matches"][0]
        assert (top["corpus"], top["ref_id"]) == (corpus, ref_id)
    assert result.report["run"]["tiers"] == ["verbatim", "paraphrase"]


def test_the_command_as_written_scans_with_both_tiers(shard_set, small_index, tmp_path):
    """`clearance scan-shards --index INDEX_DIR --out OUT_DIR INPUT...`, nothing else."""
    shard = tmp_path / "in" / "a.jsonl"
    shard.parent.mkdir()
    shard.write_bytes(b"\n".join((shard_set.folder / "a.jsonl").read_bytes().splitlines()[:16]))
    out = tmp_path / "out"
    run = subprocess.run(
        [CLEARANCE, "scan-shards", "--index", str(small_index), "--out", str(out), str(shard)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    report = read_report(out)
    assert report["run"]["tiers"] == ["verbatim", "paraphrase"]
    assert report["totals"]["records"] == 15 and report["totals"]["rejected"] == 5
    found = outputs_by_location(out)
    planted = found[SourceLocation("a.jsonl", line=4)].clearance
    assert planted["decision"] == "remove" and planted["matches"][0]["ref_id"] == "7"
    assert "records/s" in run.stderr  # the progress bar
