"""Reading and writing stream: memory stays flat whatever the shard size."""

from __future__ import annotations

import json
import tracemalloc

import zstandard

from indexer.readers import Format, Record, find_sources, read_batches
from service.shards.scan_batch import AnnotatedBatch
from service.shards.writers import OutputMode, ShardOutputs


def test_a_large_shard_goes_through_in_bounded_memory(web_docs, tmp_path):
    path = tmp_path / "big.jsonl.zst"
    # 1,000 distinct pages, so the file compresses like real text (a few pages repeated would
    # compress a thousandfold, and one 8 KB slice of input would then be megabytes of output).
    with path.open("wb") as raw, zstandard.ZstdCompressor().stream_writer(raw) as out:
        for i in range(12_000):  # about 28 MB of JSONL
            out.write(json.dumps({"id": i, "text": web_docs[i % 1000]}).encode() + b"\n")
    shard = find_sources([path])[0]
    outputs = ShardOutputs(shard, tmp_path / "staging", OutputMode.SPLIT, Format.JSONL, "zst")
    tracemalloc.start()
    records = 0
    for batch in read_batches(shard, batch_size=64):
        notes = [{"decision": "keep" if i % 2 else "review"} for i in range(len(batch.items))]
        outputs.write(AnnotatedBatch(batch, [None] * len(notes), notes))  # type: ignore[arg-type]
        records += sum(isinstance(item, Record) for item in batch.items)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    files = outputs.close()
    assert records == 12_000
    assert sorted(files) == ["keep/big.jsonl.zst", "review/big.jsonl.zst"]
    assert peak < 4 << 20, f"peak {peak / 2**20:.1f} MiB for a 28 MB shard"
    with (tmp_path / "staging" / "review" / "big.jsonl.zst").open("rb") as handle:
        lines = zstandard.ZstdDecompressor().stream_reader(handle).read().splitlines()
    assert len(lines) == 6_000 and json.loads(lines[1])["id"] == 2
