"""The build on Ray Data, on a real local Ray instance: the same index as the local build."""

from __future__ import annotations

import pytest

from indexer.build import build_index
from indexer.build_work import PartsFolder
from indexer.parallel_build import BuildEngine, EngineKind
from tests.indexer.build_helpers import PART_CHARS, index_content

pytestmark = pytest.mark.ray


def test_ray_build_writes_the_index_the_local_build_writes(parted_corpora, whole_build, tmp_path):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        out = tmp_path / "ray"
        engine = BuildEngine(EngineKind.RAY, workers=2, part_chars=PART_CHARS)
        build_index(out, parted_corpora, engine=engine)
        assert ray.is_initialized()  # a running Ray is used and left running
        # The parts were built by Ray Data's actors, not in this process. The GCS actor table:
        # Ray's public state API needs the dashboard, which tests do not start.
        from ray._private.state import actors

        names = {actor["ActorClassName"] for actor in actors().values()}
        assert "MapWorker(MapBatches(PartBuildActor))" in names, names
    finally:
        ray.shutdown()
    assert index_content(out) == index_content(whole_build)
    assert not PartsFolder.beside(out).root.exists()
