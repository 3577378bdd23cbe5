"""One shard from input file to committed outputs: the unit of work both executors hand out."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from indexer.readers import FieldNames, Source, detect_format, read_batches
from service.scanner import Scanner
from service.shards.layout import MARKER_SCHEMA, OutputLayout, input_signature
from service.shards.scan_batch import scan_batch
from service.shards.stats import ItemLengths, ScanCounts
from service.shards.writers import OutputMode, ShardOutputs


@dataclass(frozen=True)
class ShardScanOptions:
    """How records are read and written; the same for every shard of a run."""

    output: OutputMode = OutputMode.ANNOTATED
    text_field: str = "text"
    id_field: str = "id"
    batch_size: int = 64

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")


class ShardAbandoned(RuntimeError):
    """The run that asked for this shard is gone; its outputs were not committed."""


Progress = Callable[[int, int], None]  # (bytes read, records read) since the last call


def scan_shard(
    scanner: Scanner,
    shard: Source,
    layout: OutputLayout,
    options: ShardScanOptions,
    *,
    progress: Progress | None = None,
    still_wanted: Callable[[], bool] = lambda: True,
) -> dict[str, Any]:
    """Read, scan and write one shard, commit its outputs, and return its done marker."""
    started, cpu_started = time.perf_counter(), time.process_time()
    staging = layout.new_staging()
    outputs: ShardOutputs | None = None
    counts = ScanCounts()
    lengths = ItemLengths(scanner.index)
    try:
        fmt, compression = detect_format(shard)
        outputs = ShardOutputs(shard, staging, options.output, fmt, compression)
        names = FieldNames(text=options.text_field, id=options.id_field)
        for batch in read_batches(shard, names=names, batch_size=options.batch_size):
            annotated = scan_batch(scanner, batch)
            outputs.write(annotated)
            counts.add_batch(annotated, shard.key, lengths)
            if progress is not None:
                progress(batch.bytes_read, len(batch.items))
        files = outputs.close()
        if not still_wanted():
            raise ShardAbandoned(f"{shard.key}: the scan that started it has stopped")
        marker = {
            "schema": MARKER_SCHEMA,
            "file": shard.key,
            "format": fmt.value + (f".{compression}" if compression else ""),
            "input": input_signature(shard),
            "outputs": files,
            "seconds": round(time.perf_counter() - started, 3),
            # CPU time of this worker on the shard: throughput that a busy machine cannot skew
            "cpu_seconds": round(time.process_time() - cpu_started, 3),
            "counts": counts.to_dict(),
        }
        layout.commit(shard.key, staging, files, marker)
        return marker
    except BaseException:
        if outputs is not None:
            outputs.abort()
        shutil.rmtree(staging, ignore_errors=True)
        raise
