"""Fixtures: shards made from real C4 pages with real benchmark items and book passages hidden
in them, in every input format, plus bad records of every kind ``scan-shards`` must reject."""

from __future__ import annotations

import pytest

from tests.service.shards.shard_helpers import ShardSet, make_shard_set


@pytest.fixture(scope="session")
def shard_set(tmp_path_factory, web_docs, small_corpora, data_root) -> ShardSet:
    return make_shard_set(
        tmp_path_factory.mktemp("shards") / "web", web_docs, small_corpora, data_root
    )


@pytest.fixture(scope="session")
def annotated_run(shard_set, small_index, tmp_path_factory):
    """One local-engine run over the shard set, shared by the tests that only read its outputs."""
    from service.shards import scan_shards

    out = tmp_path_factory.mktemp("scan") / "out"
    return scan_shards(
        shard_set.inputs,
        index=small_index,
        out=out,
        tiers=("verbatim",),
        workers=2,
        batch_size=7,
        progress=False,
    )
