"""Ray executor of the index build: parts fingerprinted and embedded on Ray Data.

The dataset is the parts still to build, one row each with its items; ``map_batches`` runs
``PartBuildActor``, an actor pool whose actors each load the static model once and then build
whole parts with the same ``build_and_save`` as the local pool, writing them to the build's
work folder. Ray schedules the actors and retries lost ones; the index is merged from the work
folder by the driver, as after a local build, so both write the same index. Every actor must
see the work folder beside the target (a shared file system on a multi-node cluster).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from indexer.build_parts import PartTask
from indexer.build_work import BuildEngineError, PartsFolder, build_and_save
from indexer.corpus import ReferenceItem
from indexer.normalize import TextMode
from indexer.ray_session import ray_session
from indexer.static_embedding import StaticEmbedder

if TYPE_CHECKING:
    from indexer.manifest import IndexSettings
    from indexer.parallel_build import BuildEngine


def task_row(task: PartTask) -> dict[str, Any]:
    """A part as an Arrow-friendly row: plain strings and lists, no pickled objects."""
    return {
        "key": task.key,
        "corpus": task.corpus,
        "first_item": task.first_item,
        "mode": task.mode.value,
        "ids": [item.id for item in task.items],
        "texts": [item.text for item in task.items],
        "metas": [json.dumps(dict(item.meta), ensure_ascii=False) for item in task.items],
    }


def task_from_row(row: dict[str, Any]) -> PartTask:
    items = tuple(
        ReferenceItem(item_id, text, json.loads(meta))
        for item_id, text, meta in zip(row["ids"], row["texts"], row["metas"], strict=True)
    )
    return PartTask(row["key"], row["corpus"], row["first_item"], TextMode(row["mode"]), items)


class PartBuildActor:
    """Holds the static model for its lifetime; each call builds the parts of a batch of rows."""

    def __init__(self, settings: IndexSettings, static_dir: str, work_dir: str):
        self.settings = settings
        self.static = StaticEmbedder(Path(static_dir))
        self.folder = PartsFolder(Path(work_dir))

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        keys, items = [], []
        for row in batch.to_pylist():
            task = task_from_row(row)
            keys.append(build_and_save(task, self.settings, self.static, self.folder))
            items.append(len(task.items))
        return pa.table({"key": keys, "items": items})


def run_on_ray(
    todo: list[PartTask],
    settings: IndexSettings,
    static_dir: Path,
    folder: PartsFolder,
    engine: BuildEngine,
    advance: Callable[[int], None],
) -> None:
    """Build ``todo`` on Ray Data; starts (and stops) a local Ray if none is running."""
    try:
        import ray
    except ImportError as exc:
        raise BuildEngineError("--engine ray needs Ray Data: pip install 'clearance[ray]'") from exc
    with ray_session(engine.ray_address, engine.workers, progress=False) as ray:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        actors = max(1, min(engine.workers or cpus, cpus, len(todo)))
        rows = [task_row(task) for task in todo]
        dataset = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
            PartBuildActor,
            fn_constructor_kwargs={
                "settings": settings,
                "static_dir": str(static_dir),
                "work_dir": str(folder.root),
            },
            batch_size=1,
            batch_format="pyarrow",
            # One part in flight per actor: a queued part waits for the first free actor.
            compute=ray.data.ActorPoolStrategy(size=actors, max_tasks_in_flight_per_actor=1),
            num_cpus=1,
        )
        try:
            for row in dataset.iter_rows():
                advance(int(row["items"]))
        except Exception as exc:  # an actor that cannot start, a lost node, a failed part
            raise BuildEngineError(
                f"the Ray build failed ({type(exc).__name__}: {exc}); finished parts are kept "
                f"in {folder.root}: rerun the build to resume"
            ) from exc
