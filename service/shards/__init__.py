"""Batch scans over data shards (``clearance scan-shards``); results layout in README.md.

The flow, one module per arrow: ``indexer.readers`` (shards in, records with their location)
-> ``scan_batch`` (the scan: scanner + batch -> annotated batch) -> ``writers`` (staged outputs
in the input's format) -> ``layout`` (atomic per-shard commit and done markers) -> ``report``.
``task.scan_shard`` strings them together for one shard; ``local`` (a process pool) and
``ray_engine`` (Ray Data) are two executors of it; ``run.scan_shards`` is the public entry.
"""

from __future__ import annotations

from service.shards.run import Engine, ShardScanResult, scan_shards
from service.shards.writers import OutputMode

__all__ = ["Engine", "OutputMode", "ShardScanResult", "scan_shards"]
