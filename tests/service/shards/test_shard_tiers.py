"""Both tiers through the shard scan, when the paraphrase verifier model is installed."""

from __future__ import annotations

from importlib import resources

import pytest

from service.shards import scan_shards
from service.shards.errors import ShardScanError
from tests.service.shards.shard_helpers import outputs_by_location

VERIFIER = resources.files("service.models").joinpath("paraphrase_verifier.json").is_file()


@pytest.mark.skipif(VERIFIER, reason="the verifier model is installed: nothing to refuse")
def test_paraphrase_tier_without_its_model_is_refused_before_any_work(
    shard_set, small_index, tmp_path
):
    with pytest.raises(ShardScanError, match=r"paraphrase_verifier\.json"):
        scan_shards(
            shard_set.inputs,
            index=small_index,
            out=tmp_path / "out",
            tiers=("verbatim", "paraphrase"),
            progress=False,
        )
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
@pytest.mark.skipif(not VERIFIER, reason="needs service/models/paraphrase_verifier.json")
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
