"""Writing a shard's outputs in its input's format, into a staging folder.

``annotated`` mode writes every scanned record to one file; ``split`` mode routes each record
to ``keep/``, ``review/`` or ``remove/`` by its decision. Either way each record keeps all its
original fields and gains ``clearance``; rejects go to a JSONL file of their own. Nothing here
is visible to readers of the output folder until ``OutputLayout.commit``.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import os
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from indexer.readers import Format, Record, Reject, Source
from indexer.readers.read import parquet_schema
from service.shards.layout import REJECTS, OutputLayout
from service.shards.scan_batch import AnnotatedBatch


class OutputMode(StrEnum):
    ANNOTATED = "annotated"
    SPLIT = "split"


def clearance_arrow_type() -> Any:
    """The Parquet ``clearance`` column: the JSON ``clearance`` object as an Arrow struct."""
    import pyarrow as pa

    source = pa.struct([("file", pa.string()), ("line", pa.int64()), ("row", pa.int64())])
    match = pa.struct(
        [
            ("ref_id", pa.string()),
            ("corpus", pa.string()),
            ("kind", pa.string()),
            ("methods", pa.list_(pa.string())),
            ("risk", pa.float64()),
            ("decision", pa.string()),
            ("similarity", pa.float64()),
            ("coverage", pa.float64()),
            ("matched_tokens", pa.int64()),
            ("doc_span", pa.list_(pa.int64())),
            ("ref_span", pa.list_(pa.int64())),
            ("ref_chars", pa.int64()),
            ("snippet", pa.string()),
            ("allowed", pa.string()),
        ]
    )
    return pa.struct(
        [
            ("id", pa.string()),
            ("source", source),
            ("risk", pa.float64()),
            ("decision", pa.string()),
            ("chars", pa.int64()),
            ("matches", pa.list_(match)),
        ]
    )


class JsonlSink:
    """A JSONL file (or, for a JSON shard, a JSON array), compressed like the input; bytes go
    straight to disk as they come."""

    def __init__(self, path: Path, compression: str | None, *, array: bool = False):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("wb")
        self._stream: IO[bytes] = self._file
        if compression == "gz":
            self._stream = gzip.GzipFile(fileobj=self._file, mode="wb")  # type: ignore[assignment]
        elif compression == "zst":
            import zstandard

            self._stream = zstandard.ZstdCompressor().stream_writer(self._file, closefd=False)
        elif compression in ("bz2", "xz"):
            import bz2
            import lzma

            opener = bz2.BZ2File if compression == "bz2" else lzma.LZMAFile
            self._stream = opener(self._file, "wb")  # type: ignore[assignment]
        self._array = array
        self._written = 0

    def write(self, data: dict[str, Any]) -> None:
        if self._array:
            self._stream.write(b",\n" if self._written else b"[\n")
        self._stream.write(json.dumps(data, ensure_ascii=False, default=_jsonable).encode())
        if not self._array:
            self._stream.write(b"\n")
        self._written += 1

    def close(self) -> None:
        if self._array:
            self._stream.write(b"\n]\n" if self._written else b"[]\n")
        if self._stream is not self._file:
            self._stream.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()


class ParquetSink:
    """A Parquet file; batches are gathered into row groups of a sensible size first.

    Writing each scanner batch as it comes would make one tiny row group per 64 records.
    """

    ROW_GROUP_ROWS = 16_384
    ROW_GROUP_BYTES = 64 << 20

    def __init__(self, path: Path, schema: Any):
        import pyarrow.parquet as pq

        path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = pq.ParquetWriter(path, schema)
        self._path = path
        self._buffer: list[Any] = []
        self._rows = self._bytes = 0

    def write(self, batch: Any) -> None:
        self._buffer.append(batch)
        self._rows += batch.num_rows
        self._bytes += batch.nbytes
        if self._rows >= self.ROW_GROUP_ROWS or self._bytes >= self.ROW_GROUP_BYTES:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self._buffer:
            self._writer.write_table(pa.Table.from_batches(self._buffer))
        self._buffer, self._rows, self._bytes = [], 0, 0

    def close(self) -> None:
        self._flush()
        self._writer.close()
        with self._path.open("rb") as handle:
            os.fsync(handle.fileno())


class ShardOutputs:
    """Every output file of one shard, opened on first use, under ``staging``.

    ``fmt`` and ``compression`` are what the reader found the shard to hold; outputs have
    the same (a text shard's records are written as JSON lines).
    """

    def __init__(
        self,
        shard: Source,
        staging: Path,
        mode: OutputMode,
        fmt: Format,
        compression: str | None = None,
    ):
        self.shard = shard
        self.staging = staging
        self.mode = OutputMode(mode)
        self.format = fmt
        self.compression = compression
        self._sinks: dict[str, JsonlSink | ParquetSink] = {}
        self._schema = None
        if fmt is Format.PARQUET:
            import pyarrow as pa

            schema = parquet_schema(shard)
            if "clearance" in schema.names:
                schema = schema.remove(schema.get_field_index("clearance"))
            self._input_names = schema.names
            self._schema = schema.append(pa.field("clearance", clearance_arrow_type()))
        if self.mode is OutputMode.ANNOTATED:
            self._sink("annotated")  # one output per input shard, even if every record is rejected

    @property
    def files(self) -> list[str]:
        """Staged files, relative to the staging folder (and later to the output folder)."""
        layout = OutputLayout(Path())
        return [self._path(layout, folder).as_posix() for folder in self._sinks]

    def _path(self, layout: OutputLayout, folder: str) -> Path:
        if folder == REJECTS:
            return layout.rejects_path(self.shard.key, self.format)
        return layout.records_path(folder, self.shard.key, self.format)

    def write(self, annotated: AnnotatedBatch) -> None:
        items = annotated.batch.items
        by_folder: dict[str, list[int]] = {}
        for i, (item, note) in enumerate(zip(items, annotated.annotations, strict=True)):
            if isinstance(item, Reject):
                self._sink(REJECTS).write(reject_dict(item))  # type: ignore[arg-type]
                continue
            assert note is not None
            folder = "annotated" if self.mode is OutputMode.ANNOTATED else note["decision"]
            by_folder.setdefault(folder, []).append(i)
        for folder, indices in by_folder.items():
            if self.format is Format.PARQUET:
                self._write_parquet(folder, annotated, indices)
            else:
                sink = self._sink(folder)
                for i in indices:
                    record = items[i]
                    assert isinstance(record, Record) and record.fields is not None
                    sink.write({**record.fields, "clearance": annotated.annotations[i]})  # type: ignore[arg-type]

    def _write_parquet(self, folder: str, annotated: AnnotatedBatch, indices: list[int]) -> None:
        import pyarrow as pa

        rows = [annotated.batch.items[i].row_in_batch for i in indices]  # type: ignore[union-attr]
        table = annotated.batch.arrow.take(pa.array(rows, type=pa.int64()))
        columns = [table.column(name) for name in self._input_names]
        notes = pa.array([annotated.annotations[i] for i in indices], type=clearance_arrow_type())
        batch = pa.RecordBatch.from_arrays([*columns, notes], schema=self._schema)
        self._sink(folder).write(batch)

    def _sink(self, folder: str) -> JsonlSink | ParquetSink:
        if folder not in self._sinks:
            path = self._path(OutputLayout(self.staging), folder)
            if folder == REJECTS:
                jsonl = self.format is Format.JSONL
                self._sinks[folder] = JsonlSink(path, self.compression if jsonl else None)
            elif self.format is Format.PARQUET:
                self._sinks[folder] = ParquetSink(path, self._schema)
            elif self.format is Format.TEXT:
                self._sinks[folder] = JsonlSink(path, None)
            else:
                array = self.format is Format.JSON
                self._sinks[folder] = JsonlSink(path, self.compression, array=array)
        return self._sinks[folder]

    def close(self) -> list[str]:
        for sink in self._sinks.values():
            sink.close()
        return self.files

    def abort(self) -> None:
        """Close what is open after a failure; the staged files are thrown away."""
        for sink in self._sinks.values():
            with contextlib.suppress(Exception):
                sink.close()


def reject_dict(reject: Reject) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": reject.id,
        "source": reject.location.to_dict(),
        "reason": reject.reason,
        "reason_kind": reject.kind.value,
    }
    if reject.raw is not None:
        data["raw"] = reject.raw.decode("utf-8", errors="backslashreplace")
        try:
            reject.raw.decode("utf-8")
        except UnicodeDecodeError:
            data["raw_base64"] = base64.b64encode(reject.raw).decode("ascii")
    if reject.record is not None:
        data["record"] = reject.record
    return data


def _jsonable(value: Any) -> Any:
    """Parquet values JSON cannot hold (bytes, dates, decimals) in a reject's ``record``."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="backslashreplace")
    return str(value)
