"""Ray executor: the same shard scan on Ray Data, against an existing cluster or a local one.

The dataset is the list of shards still to scan; ``map_batches`` runs ``ShardScanActor``, an
actor pool whose actors each load the scanner once and then scan whole shards with the same
``scan_shard`` (and so the same ``scan_batch``) as the local pool. Ray schedules the actors,
retries failed ones and shows progress; nothing here schedules work itself.

Why shards, not records, flow through Ray Data: outputs must be one file per input shard in the
input's format, committed atomically with a done marker so reruns resume cleanly, and malformed
lines must become rejects with their line numbers. Ray's own ``read_json``/``write_*`` fail on a
malformed line and name output files themselves, so reading and writing stay in the shared
readers and writers, executed inside the actors. Every worker must see the input and output
paths (a shared file system on a multi-node cluster).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from indexer.ray_session import ray_session
from indexer.readers import Source
from service.shards.errors import RayEngineError
from service.shards.layout import OutputLayout
from service.shards.local import ShardOutcome
from service.shards.scan_batch import ScannerSpec
from service.shards.task import ShardScanOptions, scan_shard


class ShardScanActor:
    """Holds one scanner for its lifetime; each call scans the shards of a batch of rows."""

    def __init__(self, spec: ScannerSpec, out_dir: str, options: ShardScanOptions):
        self.scanner = spec.load()
        self.layout = OutputLayout(Path(out_dir))
        self.options = options

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        keys, markers, errors = [], [], []
        for row in batch.to_pylist():
            shard = Source(row["url"], row["key"])
            keys.append(shard.key)
            try:
                markers.append(
                    json.dumps(scan_shard(self.scanner, shard, self.layout, self.options))
                )
                errors.append("")
            except Exception as exc:
                markers.append("")
                errors.append(f"{type(exc).__name__}: {exc}")
        return pa.table({"key": keys, "marker": markers, "error": errors})


def run_ray(
    shards: list[Source],
    spec: ScannerSpec,
    layout: OutputLayout,
    options: ShardScanOptions,
    *,
    address: str | None = None,
    concurrency: int | None = None,
    progress: bool = True,
) -> list[ShardOutcome]:
    """Scan ``shards`` with Ray Data; starts (and stops) a local Ray if none is running."""
    if not shards:
        return []
    try:
        import ray
    except ImportError as exc:
        raise RayEngineError("the Ray engine needs Ray Data: pip install 'clearance[ray]'") from exc
    with ray_session(address, concurrency, progress) as ray:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        actors = max(1, min(concurrency or cpus, cpus, len(shards)))
        sizes = {s.key: s.size() or 0 for s in shards}
        rows = [{"url": s.url, "key": s.key} for s in sorted(shards, key=lambda s: -sizes[s.key])]
        dataset = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
            ShardScanActor,
            fn_constructor_kwargs={"spec": spec, "out_dir": str(layout.root), "options": options},
            batch_size=1,
            batch_format="pyarrow",
            # One shard in flight per actor: a queued shard waits for the first free actor.
            compute=ray.data.ActorPoolStrategy(size=actors, max_tasks_in_flight_per_actor=1),
            num_cpus=1,
        )
        try:
            rows_out = list(dataset.iter_rows())
        except Exception as exc:  # an actor that cannot start, a lost node: not one shard's fault
            raise RayEngineError(
                f"the Ray run failed ({type(exc).__name__}: {exc}); shards already marked done "
                "are kept, rerun to finish the others"
            ) from exc
        return [
            ShardOutcome(
                row["key"],
                marker=json.loads(row["marker"]) if row["marker"] else None,
                error=row["error"] or None,
            )
            for row in rows_out
        ]
