"""Split output: the same records as the annotated run, each in the folder of its decision."""

from __future__ import annotations

import pyarrow.parquet as pq

from service.shards import scan_shards
from tests.service.shards.shard_helpers import outputs_by_location


def test_split_routes_each_record_by_decision_and_matches_annotated(
    annotated_run, shard_set, small_index, tmp_path
):
    out = tmp_path / "split"
    result = scan_shards(
        shard_set.inputs,
        index=small_index,
        out=out,
        tiers=("verbatim",),
        output="split",
        workers=2,
        progress=False,
    )
    split = outputs_by_location(out)
    annotated = outputs_by_location(annotated_run.out_dir)
    assert split.keys() == annotated.keys() == shard_set.expected.keys()
    for where, record in split.items():
        assert record.data == annotated[where].data
        if record.folder != "rejects":
            assert record.folder == record.clearance["decision"]
    # a file only where there are records: no review/ at all, remove/ only for planted shards
    assert not (out / "review").exists()
    assert sorted(p.relative_to(out).as_posix() for p in (out / "remove").rglob("*.*")) == [
        "remove/a.jsonl",
        "remove/b.jsonl.gz",
        "remove/d.parquet",
    ]
    assert pq.read_schema(out / "keep" / "d.parquet").names[-1] == "clearance"
    assert result.report["decisions"] == annotated_run.report["decisions"]
