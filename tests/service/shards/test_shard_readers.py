"""Finding shards and streaming their records."""

from __future__ import annotations

import pytest
import zstandard

from service.shards.errors import ShardInputError
from service.shards.readers import ShardRecord, ShardReject, find_shards, read_shard
from tests.service.shards.shard_helpers import write_jsonl


def test_folders_globs_and_files_give_each_shard_once_keyed_from_the_common_folder(shard_set):
    folder = shard_set.folder
    shards = find_shards(
        [
            folder / "extra",
            str(folder / "*.jsonl*"),
            folder / "a.jsonl",
            folder / "extra" / "e.parquet",
        ]
    )
    assert [s.key for s in shards] == [
        "a.jsonl",
        "b.jsonl.gz",
        "c.jsonl.zst",
        "extra/e.parquet",
        "extra/f.parquet",
    ]
    assert [(s.format, s.compression) for s in shards][:3] == [
        ("jsonl", None),
        ("jsonl", "gz"),
        ("jsonl", "zst"),
    ]
    assert [s.key for s in find_shards([folder / "extra"])] == ["e.parquet", "f.parquet"]


def test_inputs_that_are_not_shards_are_refused(shard_set, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ShardInputError, match="unsupported format"):
        find_shards([tmp_path / "notes.txt"])
    with pytest.raises(ShardInputError, match="holds no"):
        find_shards([tmp_path])
    with pytest.raises(ShardInputError, match="matches no"):
        find_shards([str(tmp_path / "*.parquet")])
    with pytest.raises(ShardInputError, match="inside the output folder"):
        find_shards([shard_set.folder / "a.jsonl"], exclude=shard_set.folder)


def test_jsonl_is_streamed_in_batches_with_line_numbers(tmp_path):
    lines = [b'{"text": "first"}\r', b"", b'{"text": "third", "id": 7}', b"   ", b"{oops"]
    lines += [b'{"text": "doc %d"}' % i for i in range(10)]
    path = tmp_path / "s.jsonl.zst"
    write_jsonl(path, lines, "zst")
    shard = find_shards([path])[0]
    batches = list(read_shard(shard, batch_size=4))
    assert [len(b.items) for b in batches] == [4, 4, 4, 1]
    items = [i for b in batches for i in b.items]
    assert [i.location.line for i in items][:4] == [1, 3, 5, 6]
    assert isinstance(items[0], ShardRecord) and items[0].text == "first"
    assert (items[1].id, items[1].fields) == ("7", {"text": "third", "id": 7})
    assert isinstance(items[2], ShardReject) and items[2].raw == b"{oops"
    assert sum(b.bytes_read for b in batches) == path.stat().st_size


def test_a_truncated_shard_yields_its_readable_records_before_failing(tmp_path):
    lines = [b'{"text": "doc %d %s"}' % (i, b"x" * 200) for i in range(2000)]
    path = tmp_path / "cut.jsonl.zst"
    data = zstandard.ZstdCompressor().compress(b"\n".join(lines))
    path.write_bytes(data[: len(data) // 2])
    batches = read_shard(find_shards([path])[0], batch_size=100)
    first = next(batches)  # streaming: records come before the damage is reached
    assert len(first.items) == 100
    with pytest.raises(EOFError, match="truncated"):
        list(batches)


def test_zstd_shards_of_several_frames_are_read_whole(tmp_path):
    compress = zstandard.ZstdCompressor().compress
    path = tmp_path / "frames.jsonl.zst"
    path.write_bytes(compress(b'{"text": "a"}\n{"text": "b"}\n') + compress(b'{"text": "c"}\n'))
    items = [i for b in read_shard(find_shards([path])[0]) for i in b.items]
    assert [i.text for i in items] == ["a", "b", "c"]
