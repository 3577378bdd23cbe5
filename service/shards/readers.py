"""Finding input shards and streaming their records, each with where it came from.

Readers never hold a whole shard: JSONL is read line by line through a streaming decompressor,
Parquet one record batch at a time. Records that cannot be scanned come out as ``ShardReject``
with their line or row and the reason (the same checks as ``clearance scan``, shared through
``service.scan_input``), so every record of a shard is accounted for.
"""

from __future__ import annotations

import glob
import gzip
import io
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from service.scan_input import (
    InputDocument,
    RejectedRecord,
    RejectKind,
    document_from_record,
    parse_jsonl_line,
)
from service.shards.errors import ShardInputError

# Longest suffix first: ".jsonl.gz" must not be taken for ".gz".
FORMATS = {
    ".jsonl.zst": ("jsonl", "zst"),
    ".jsonl.gz": ("jsonl", "gz"),
    ".jsonl": ("jsonl", None),
    ".parquet": ("parquet", None),
}


@dataclass(frozen=True)
class Shard:
    """One input file; ``key`` names it in outputs, markers and the report."""

    path: Path
    key: str
    format: str  # jsonl | parquet
    compression: str | None  # gz | zst | None

    @property
    def suffix(self) -> str:
        return (
            ".parquet"
            if self.format == "parquet"
            else ".jsonl" + (f".{self.compression}" if self.compression else "")
        )

    @property
    def format_name(self) -> str:
        return self.suffix.lstrip(".")


@dataclass(frozen=True)
class SourceLocation:
    """Where a record is: 1-based line of a JSONL shard, or 0-based row of a Parquet shard."""

    file: str
    line: int | None = None
    row: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "row": self.row}


@dataclass(frozen=True)
class ShardRecord:
    """A record to scan. ``fields`` is the parsed JSON object; ``None`` for Parquet rows."""

    location: SourceLocation
    id: str
    text: str
    fields: dict[str, Any] | None = None
    row_in_batch: int = 0


@dataclass(frozen=True)
class ShardReject:
    location: SourceLocation
    id: str
    reason: str
    kind: RejectKind
    raw: bytes | None = None  # the JSONL line
    record: dict[str, Any] | None = None  # the Parquet row


@dataclass(frozen=True)
class ReadBatch:
    """Consecutive records of one shard, in order; Parquet batches keep their Arrow columns."""

    items: list[ShardRecord | ShardReject]
    arrow: Any = None  # pyarrow.RecordBatch for Parquet shards
    bytes_read: int = 0  # progress through the file on disk since the previous batch

    @property
    def records(self) -> list[ShardRecord]:
        return [item for item in self.items if isinstance(item, ShardRecord)]


def shard_format(path: Path) -> tuple[str, str | None] | None:
    name = path.name.lower()
    return next((fmt for suffix, fmt in FORMATS.items() if name.endswith(suffix)), None)


def find_shards(inputs: Sequence[str | Path], *, exclude: Path | None = None) -> list[Shard]:
    """Files, folders (recursively) and globs of supported shards, each once, sorted by key.

    Keys are paths relative to the deepest folder holding every input, so two ``part-0.jsonl``
    in different folders stay apart. Files under ``exclude`` (the output folder) are refused.
    """
    files: dict[Path, None] = {}
    for given in inputs:
        for path in _expand(str(given)):
            files[path.resolve()] = None
    if not files:
        raise ShardInputError("no input shards given")
    if exclude is not None:
        inside = [p for p in files if p.is_relative_to(exclude.resolve())]
        if inside:
            raise ShardInputError(f"{inside[0]} is inside the output folder; scan it elsewhere")
    paths = sorted(files)
    root = Path(os.path.commonpath([p.parent for p in paths]))
    shards = []
    for path in paths:
        kind, compression = shard_format(path)  # type: ignore[misc]  # _expand checked it
        shards.append(Shard(path, path.relative_to(root).as_posix(), kind, compression))
    return shards


def _expand(given: str) -> list[Path]:
    if glob.has_magic(given):
        found: list[Path] = []
        for match in sorted(Path(p) for p in glob.glob(given, recursive=True)):
            if match.is_dir():
                found.extend(_shards_in(match))
            elif shard_format(match):
                found.append(match)
        if not found:
            raise ShardInputError(f"{given} matches no {', '.join(FORMATS)} file")
        return found
    path = Path(given)
    if path.is_dir():
        found = _shards_in(path)
        if not found:
            raise ShardInputError(f"{path} holds no {', '.join(FORMATS)} file")
        return found
    if not path.is_file():
        raise ShardInputError(f"{path} does not exist")
    if shard_format(path) is None:
        raise ShardInputError(f"{path}: unsupported format; use {', '.join(FORMATS)}")
    return [path]


def _shards_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and shard_format(p))


def read_shard(
    shard: Shard, *, text_field: str = "text", id_field: str = "id", batch_size: int = 64
) -> Iterator[ReadBatch]:
    """Batches of the shard's records and rejects, in file order."""
    if shard.format == "parquet":
        yield from _read_parquet(shard, text_field, id_field, batch_size)
    else:
        yield from _read_jsonl(shard, text_field, id_field, batch_size)


def open_jsonl(raw: IO[bytes], compression: str | None) -> IO[bytes]:
    """A line-iterable stream of the decompressed bytes of ``raw``."""
    if compression == "gz":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if compression == "zst":
        return io.BufferedReader(ZstdFrames(raw))
    return raw


class ZstdFrames(io.RawIOBase):
    """Decompressed bytes of every zstd frame in ``raw``; a cut-off last frame is an error.

    ``zstandard``'s own stream reader ends quietly at a truncated frame, which would drop the
    rest of a damaged shard without a word; gzip raises ``EOFError`` there, and so does this.
    Input goes to the decompressor in small slices because it has no output limit: memory is
    one slice times the compression ratio, never the shard.
    """

    SLICE = 1 << 13

    def __init__(self, raw: IO[bytes]):
        import zstandard

        self._raw = raw
        self._new = zstandard.ZstdDecompressor().decompressobj
        self._frame = self._new()
        self._input = b""
        self._output = memoryview(b"")
        self._started = False  # bytes of the current frame seen

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._output:
            if not self._input:
                self._input = self._raw.read(self.SLICE)
                if not self._input:
                    if self._started and not self._frame.eof:
                        raise EOFError("zstd stream ends inside a frame: the file is truncated")
                    return 0
            if self._frame.eof:  # concatenated frames (pzstd, cat a.zst b.zst) are one stream
                self._frame = self._new()
            self._started = True
            data, self._input = self._input, b""
            self._output = memoryview(self._frame.decompress(data))
            if self._frame.eof:
                self._input = self._frame.unused_data
        size = min(len(buffer), len(self._output))
        buffer[:size] = self._output[:size]
        self._output = self._output[size:]
        return size


def _read_jsonl(
    shard: Shard, text_field: str, id_field: str, batch_size: int
) -> Iterator[ReadBatch]:
    with shard.path.open("rb") as raw, open_jsonl(raw, shard.compression) as stream:
        items: list[ShardRecord | ShardReject] = []
        reported = 0
        for line_no, line in enumerate(stream, start=1):
            line = line.rstrip(b"\r\n")
            if not line.strip():
                continue
            items.append(_jsonl_item(shard.key, line_no, line, text_field, id_field))
            if len(items) >= batch_size:
                position = raw.tell()
                yield ReadBatch(items, bytes_read=position - reported)
                items, reported = [], position
        yield ReadBatch(items, bytes_read=shard.path.stat().st_size - reported)


def _jsonl_item(
    key: str, line_no: int, line: bytes, text_field: str, id_field: str
) -> ShardRecord | ShardReject:
    location = SourceLocation(key, line=line_no)
    fields, parsed = parse_jsonl_line(
        line, fallback_id=f"{key}:{line_no}", line=line_no, text_field=text_field, id_field=id_field
    )
    if isinstance(parsed, RejectedRecord):
        return ShardReject(location, parsed.id, parsed.reason, parsed.kind, raw=line)  # type: ignore[arg-type]
    return ShardRecord(location, parsed.id, parsed.text, fields=fields)


def _read_parquet(
    shard: Shard, text_field: str, id_field: str, batch_size: int
) -> Iterator[ReadBatch]:
    import pyarrow.parquet as pq

    size = shard.path.stat().st_size
    with pq.ParquetFile(shard.path) as parquet:
        total_rows = max(parquet.metadata.num_rows, 1)
        names = parquet.schema_arrow.names
        row, reported = 0, 0
        for batch in parquet.iter_batches(batch_size=batch_size):
            texts = _column(batch, names, text_field)
            ids = _column(batch, names, id_field)
            items = [
                _parquet_item(shard.key, row + i, i, texts[i], ids[i], batch, text_field, id_field)
                for i in range(batch.num_rows)
            ]
            row += batch.num_rows
            position = size * row // total_rows
            yield ReadBatch(items, arrow=batch, bytes_read=position - reported)
            reported = position
        if reported < size:
            yield ReadBatch([], bytes_read=size - reported)


def _column(batch: Any, names: list[str], name: str) -> list[Any]:
    return batch.column(names.index(name)).to_pylist() if name in names else [None] * batch.num_rows


def _parquet_item(
    key: str,
    row: int,
    row_in_batch: int,
    text: Any,
    doc_id: Any,
    batch: Any,
    text_field: str,
    id_field: str,
) -> ShardRecord | ShardReject:
    location = SourceLocation(key, row=row)
    fallback = f"{key}:{row}"
    if isinstance(text, bytes):
        # A binary text column: scan it if it is UTF-8, like a JSONL line.
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            reject_id = fallback if doc_id is None else str(doc_id)
            reason = f"field {text_field!r} is not UTF-8 (byte {exc.start})"
            return ShardReject(
                location, reject_id, reason, RejectKind.NOT_UTF8, record=_row(batch, row_in_batch)
            )
    parsed = document_from_record(
        {text_field: text, id_field: doc_id},
        fallback_id=fallback,
        line=None,
        text_field=text_field,
        id_field=id_field,
    )
    if isinstance(parsed, InputDocument):
        return ShardRecord(location, parsed.id, parsed.text, row_in_batch=row_in_batch)
    return ShardReject(
        location,
        parsed.id,
        parsed.reason,
        parsed.kind,  # type: ignore[arg-type]
        record=_row(batch, row_in_batch),
    )


def _row(batch: Any, index: int) -> dict[str, Any]:
    return batch.slice(index, 1).to_pylist()[0]
