"""The one reader: every format told by content, streamed, each record or reject in order."""

from __future__ import annotations

import gzip
import json
import tracemalloc

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from indexer.readers import (
    FieldNames,
    Format,
    InputReadError,
    Record,
    Reject,
    RejectKind,
    Source,
    detect_format,
    find_sources,
    read_batches,
    read_records,
    read_values,
)


def _pages(web_docs, n, start=0):
    return [{"id": f"c4-{i}", "text": web_docs[i]} for i in range(start, start + n)]


def _jsonl(records) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def _one(path) -> Source:
    (source,) = find_sources([str(path)])
    return source


@pytest.fixture
def formats(tmp_path, web_docs):
    """The same five real C4 pages in every format, most under names that do not tell it."""
    pages = _pages(web_docs, 5)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "lines.jsonl").write_bytes(_jsonl(pages))
    (folder / "lines.json").write_bytes(_jsonl(pages))  # JSON lines in a .json file
    (folder / "array.json").write_text(json.dumps(pages, indent=2))
    (folder / "one.json").write_text(json.dumps(pages[0], indent=2))
    (folder / "lines.jsonl.gz").write_bytes(gzip.compress(_jsonl(pages)))
    (folder / "lines.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(_jsonl(pages)))
    pq.write_table(pa.Table.from_pylist(pages), folder / "table.parquet")
    (folder / "page.txt").write_text(web_docs[0])
    (tmp_path / "no-extension").write_bytes(zstandard.ZstdCompressor().compress(_jsonl(pages)))
    (tmp_path / "table-no-extension").write_bytes((folder / "table.parquet").read_bytes())
    return folder, pages


def test_every_format_is_told_by_content_and_read_record_by_record(formats, tmp_path):
    folder, pages = formats
    expected = {
        "lines.jsonl": (Format.JSONL, None, 5),
        "lines.json": (Format.JSONL, None, 5),
        "array.json": (Format.JSON, None, 5),
        "one.json": (Format.JSON, None, 1),
        "lines.jsonl.gz": (Format.JSONL, "gz", 5),
        "lines.jsonl.zst": (Format.JSONL, "zst", 5),
        "table.parquet": (Format.PARQUET, None, 5),
        "page.txt": (Format.TEXT, None, 1),
    }
    sources = find_sources([folder, tmp_path / "no-extension", tmp_path / "table-no-extension"])
    assert [s.key for s in sources] == [
        *(f"in/{k}" for k in sorted(expected)),
        "no-extension",
        "table-no-extension",
    ]
    expected |= {
        "no-extension": (Format.JSONL, "zst", 5),
        "table-no-extension": (Format.PARQUET, None, 5),
    }
    for source in sources:
        fmt, compression, count = expected[source.name]
        assert detect_format(source) == (fmt, compression), source.key
        items = list(read_records([source]))
        assert all(isinstance(i, Record) for i in items) and len(items) == count, source.key
        if fmt is Format.TEXT:
            assert items[0].id == "in/page.txt" and items[0].text == pages[0]["text"]
        else:
            assert [(i.id, i.text) for i in items] == [(p["id"], p["text"]) for p in pages[:count]]


def test_locations_are_lines_for_json_lines_and_rows_for_arrays_and_parquet(formats):
    folder, _ = formats
    first = {
        name: next(read_records([_one(folder / name)])).location
        for name in ("lines.json", "array.json", "table.parquet", "one.json")
    }
    assert (first["lines.json"].line, first["lines.json"].row) == (1, None)
    assert (first["array.json"].line, first["array.json"].row) == (None, 0)
    assert (first["table.parquet"].line, first["table.parquet"].row) == (None, 0)
    assert (first["one.json"].line, first["one.json"].row) == (None, None)


def test_text_that_merely_starts_like_json_stays_text(tmp_path):
    notes = tmp_path / "notes"
    notes.write_text("[1] Introduction\nThe study of {braces} begins here.\n")
    braces = tmp_path / "braces.txt"
    braces.write_text('{"id": 1, "text": "a txt file is text"}\n')
    assert detect_format(_one(notes))[0] is Format.TEXT
    assert detect_format(_one(braces))[0] is Format.TEXT


def test_json_lines_are_streamed_in_batches_with_line_numbers(tmp_path):
    lines = [b'{"text": "first"}\r', b"", b'{"text": "third", "id": 7}', b"   ", b"{oops"]
    lines += [b'{"text": "doc %d"}' % i for i in range(10)]
    path = tmp_path / "s.jsonl.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(b"\n".join(lines) + b"\n"))
    batches = list(read_batches(_one(path), batch_size=4))
    assert [len(b.items) for b in batches] == [4, 4, 4, 1]
    items = [i for b in batches for i in b.items]
    assert [i.location.line for i in items][:4] == [1, 3, 5, 6]
    assert isinstance(items[0], Record) and items[0].text == "first"
    assert (items[1].id, items[1].fields) == ("7", {"text": "third", "id": 7})
    assert isinstance(items[2], Reject) and items[2].raw == b"{oops"
    assert sum(b.bytes_read for b in batches) == path.stat().st_size


def test_bad_array_elements_are_rejects_and_a_broken_array_is_an_error(tmp_path, web_docs):
    path = tmp_path / "refs.json"
    path.write_text('[{"id": "a", "text": "ok"}, 3, {"id": "b", "body": "x"}, {"text": "c"}]')
    items = list(read_records([_one(path)], names=FieldNames(text="text")))
    assert [type(i).__name__ for i in items] == ["Record", "Reject", "Reject", "Record"]
    assert (items[1].kind, items[1].record) == (RejectKind.NOT_AN_OBJECT, 3)
    assert (items[2].kind, items[2].fields) == (RejectKind.MISSING_TEXT, ("id", "body"))
    assert items[3].id == "refs.json:3"
    broken = tmp_path / "broken.json"
    pages = json.dumps(_pages(web_docs, 100))  # far more than the parser reads at once
    broken.write_text(pages[:-1] + ', {"id": "b", "text": ')
    stream = read_records([_one(broken)])
    assert next(stream).id == "c4-0"  # what was readable comes first
    with pytest.raises(InputReadError, match=r"broken\.json: malformed JSON in element 100 \("):
        list(stream)


def test_a_large_json_array_is_read_in_bounded_memory(tmp_path, web_docs):
    path = tmp_path / "big.json"
    with path.open("w") as handle:  # about 23 MB: 10,000 real pages in one JSON array
        handle.write("[")
        for i in range(10_000):
            handle.write(("," if i else "") + json.dumps({"id": i, "text": web_docs[i % 1000]}))
        handle.write("]")
    tracemalloc.start()
    count = sum(len(b.items) for b in read_batches(_one(path), batch_size=64))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 10_000
    assert peak < 4 << 20, f"peak {peak / 2**20:.1f} MiB for a 23 MB JSON array"


def test_a_truncated_file_yields_its_readable_records_before_failing(tmp_path):
    lines = [b'{"text": "doc %d %s"}' % (i, b"x" * 200) for i in range(2000)]
    path = tmp_path / "cut.jsonl.zst"
    data = zstandard.ZstdCompressor().compress(b"\n".join(lines))
    path.write_bytes(data[: len(data) // 2])
    batches = read_batches(_one(path), batch_size=100)
    first = next(batches)  # streaming: records come before the damage is reached
    assert len(first.items) == 100
    with pytest.raises(InputReadError, match=r"cut\.jsonl\.zst: cannot read to the end.*truncated"):
        list(batches)
    gz = tmp_path / "cut.jsonl.gz"
    gz.write_bytes(gzip.compress(b"\n".join(lines))[:5000])
    with pytest.raises(InputReadError, match=r"cut\.jsonl\.gz: cannot read to the end"):
        list(read_records([_one(gz)]))


def test_zstd_files_of_several_frames_are_read_whole(tmp_path):
    compress = zstandard.ZstdCompressor().compress
    path = tmp_path / "frames.jsonl.zst"
    path.write_bytes(compress(b'{"text": "a"}\n{"text": "b"}\n') + compress(b'{"text": "c"}\n'))
    assert [i.text for i in read_records([_one(path)])] == ["a", "b", "c"]


def test_folders_globs_and_files_give_each_file_once_keyed_from_the_common_folder(formats):
    folder, _ = formats
    (folder / "extra").mkdir()
    (folder / "extra" / "e.parquet").write_bytes((folder / "table.parquet").read_bytes())
    (folder / "extra" / "README.md").write_text("not data")
    (folder / ".hidden.jsonl").write_text('{"text": "skipped"}\n')
    sources = find_sources(
        [folder / "extra", str(folder / "*.jsonl*"), folder / "lines.jsonl", folder / "page.txt"]
    )
    assert [s.key for s in sources] == [
        "extra/e.parquet",
        "lines.jsonl",
        "lines.jsonl.gz",
        "lines.jsonl.zst",
        "page.txt",
    ]
    assert [s.key for s in find_sources([folder / "extra"])] == ["e.parquet"]
    # A file named on its own is read whatever its name; a folder picks data files only.
    assert [s.key for s in find_sources([folder / "extra" / "README.md"])] == ["README.md"]


def test_inputs_that_cannot_be_found_are_refused_with_their_name(tmp_path):
    (tmp_path / "notes.md").write_text("hello")
    with pytest.raises(InputReadError, match="holds no readable file"):
        find_sources([tmp_path])
    with pytest.raises(InputReadError, match="matches no readable file"):
        find_sources([str(tmp_path / "*.parquet")])
    with pytest.raises(InputReadError, match=r"missing\.jsonl: does not exist"):
        find_sources([tmp_path / "missing.jsonl"])
    with pytest.raises(InputReadError, match="inside the output folder"):
        find_sources([tmp_path / "notes.md"], exclude=tmp_path)
    with pytest.raises(InputReadError, match="stdin: cannot be read here"):
        find_sources(["-"], stdin=False)


def test_fsspec_memory_and_file_urls_are_read_like_local_files(formats, web_docs):
    folder, pages = formats
    memory = fsspec.filesystem("memory")
    memory.pipe("/corpus/part-0.jsonl.zst", (folder / "lines.jsonl.zst").read_bytes())
    memory.pipe("/corpus/part-1.parquet", (folder / "table.parquet").read_bytes())
    memory.pipe("/corpus/refs.json", (folder / "array.json").read_bytes())
    try:
        sources = find_sources(["memory://corpus/"])
        assert [(s.url, s.key) for s in sources] == [
            ("memory:///corpus/part-0.jsonl.zst", "part-0.jsonl.zst"),
            ("memory:///corpus/part-1.parquet", "part-1.parquet"),
            ("memory:///corpus/refs.json", "refs.json"),
        ]
        for source in sources:
            assert [i.text for i in read_records([source])] == [p["text"] for p in pages]
        globbed = find_sources(["memory://corpus/*.parquet"])
        assert [s.key for s in globbed] == ["part-1.parquet"]
        assert sources[0].info()["size"] == (folder / "lines.jsonl.zst").stat().st_size
    finally:
        memory.rm("/corpus", recursive=True)
    (url_source,) = find_sources([f"file://{folder / 'lines.jsonl.gz'}"])
    assert url_source.is_local and url_source.key == "lines.jsonl.gz"
    assert len(list(read_records([url_source]))) == 5


def test_raw_values_keep_what_a_stricter_reader_needs(formats, tmp_path):
    folder, pages = formats
    values = list(read_values(_one(folder / "table.parquet")))
    assert [v for _, v in values] == pages and values[2][0].row == 2
    with pytest.raises(InputReadError, match="plain text, not records"):
        list(read_values(_one(folder / "page.txt")))
    not_parquet = tmp_path / "x.parquet"
    not_parquet.write_text("id,text\n1,hello\n")
    with pytest.raises(InputReadError, match=r"x\.parquet: not a Parquet file"):
        list(read_records([_one(not_parquet)]))
