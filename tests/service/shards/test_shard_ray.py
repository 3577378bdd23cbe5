"""The Ray engine on a real local Ray instance: the same outputs as the local engine."""

from __future__ import annotations

import pytest

from service.shards import scan_shards
from service.shards.results import read_report
from tests.service.shards.shard_helpers import outputs_by_location, same_counts

pytestmark = pytest.mark.ray


def test_ray_engine_writes_what_the_local_engine_writes(
    annotated_run, shard_set, small_index, tmp_path
):
    ray = pytest.importorskip("ray")
    out = tmp_path / "ray"
    result = scan_shards(
        shard_set.inputs,
        index=small_index,
        out=out,
        tiers=("verbatim",),
        engine="ray",
        workers=2,
        batch_size=7,
        progress=False,
    )
    assert not ray.is_initialized()  # the engine stops the local Ray it started
    assert result.complete and not result.failed
    assert sorted(result.scanned) == sorted(annotated_run.scanned)
    by_ray = outputs_by_location(out)
    by_local = outputs_by_location(annotated_run.out_dir)
    assert sorted(by_ray, key=str) == sorted(by_local, key=str)
    assert all(
        by_ray[k].data == by_local[k].data and by_ray[k].folder == by_local[k].folder
        for k in by_local
    )
    report, local = read_report(out), read_report(annotated_run.out_dir)
    assert report["run"]["engine"] == "ray" and local["run"]["engine"] == "local"
    assert same_counts(report, local) == []


def test_ray_engine_uses_a_running_ray_and_leaves_it_running(
    annotated_run, shard_set, small_index, tmp_path
):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        out = tmp_path / "ray"
        result = scan_shards(
            [shard_set.folder / "a.jsonl"],
            index=small_index,
            out=out,
            tiers=("verbatim",),
            engine="ray",
            progress=False,
        )
        assert ray.is_initialized()  # not the engine's to shut down
        assert result.scanned == ["a.jsonl"]
        local = {
            k: v
            for k, v in outputs_by_location(annotated_run.out_dir).items()
            if k.file == "a.jsonl"
        }
        by_ray = outputs_by_location(out)
        assert by_ray.keys() == local.keys()
        assert all(by_ray[k].data == local[k].data for k in local)
    finally:
        ray.shutdown()
