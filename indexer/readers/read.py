"""Reading a source's records, in order, in bounded memory, whatever its format.

JSON lines are read line by line through a streaming decompressor, a JSON array element by
element (``ijson``), Parquet one record batch at a time, plain text as one document. Each
record is a ``Record`` or a ``Reject`` with its line or row and the reason, so every record
of every input is accounted for. An input that cannot be read at all (missing, truncated,
corrupt, a JSON array that breaks off) raises ``InputReadError`` naming it, after the records
read before the damage.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, Any

from indexer.readers.records import (
    DEFAULT_FIELDS,
    FieldNames,
    ReadBatch,
    Record,
    Reject,
    RejectKind,
    SourceLocation,
    document_from_record,
    parse_json_line,
    record_from_json,
)
from indexer.readers.sources import Source
from indexer.readers.streams import (
    CORRUPT,
    Format,
    InputReadError,
    Sniffed,
    iter_lines,
    sniff,
)


@contextlib.contextmanager
def open_source(source: Source, *, force: Format | None = None) -> Iterator[Sniffed]:
    """The source opened and its format told; damage found while reading names the source."""
    with source.open() as raw:
        try:
            sniffed = sniff(raw, source.where, force=force)
        except InputReadError:
            raise
        except CORRUPT as exc:
            raise InputReadError(source.where, f"cannot read: {exc}") from exc
        try:
            yield sniffed
        except InputReadError:
            raise
        except CORRUPT as exc:
            raise InputReadError(source.where, f"cannot read to the end: {exc}") from exc
        finally:
            sniffed.close()


def detect_format(source: Source) -> tuple[Format, str | None]:
    """What the source holds, and its compression, read from its first bytes."""
    with open_source(source) as sniffed:
        return sniffed.format, sniffed.compression


def parquet_schema(source: Source) -> Any:
    """The Arrow schema of a Parquet source."""
    with _parquet_file(source) as parquet:
        return parquet.schema_arrow


def read_batches(
    source: Source,
    *,
    names: FieldNames = DEFAULT_FIELDS,
    batch_size: int = 64,
    force: Format | None = None,
) -> Iterator[ReadBatch]:
    """Batches of the source's records and rejects, in order.

    >>> for batch in read_batches(Source("/data/part-0.jsonl.zst", "part-0.jsonl.zst")):
    ...     print(len(batch.records), batch.bytes_read)              # doctest: +SKIP
    """
    with open_source(source, force=force) as sniffed:
        if sniffed.format is Format.PARQUET:
            yield from _parquet_batches(source, names, batch_size)
            return
        items: list[Record | Reject] = []
        reported = 0
        for item in _json_or_text_items(source, sniffed, names):
            items.append(item)
            if len(items) >= batch_size:
                yield ReadBatch(items, bytes_read=sniffed.counter.count - reported)
                items, reported = [], sniffed.counter.count
        yield ReadBatch(items, bytes_read=sniffed.counter.count - reported)


def read_records(
    sources: Iterable[Source],
    *,
    names: FieldNames = DEFAULT_FIELDS,
    force: Format | None = None,
) -> Iterator[Record | Reject]:
    """Every record of every source, in order."""
    for source in sources:
        for batch in read_batches(source, names=names, force=force):
            yield from batch.items


def read_values(source: Source) -> Iterator[tuple[SourceLocation, Any]]:
    """The raw values of a source of records: parsed JSON (``BadLine`` for a line that is not
    JSON) or Parquet rows as dicts. For readers with stricter rules than a scan's, such as
    reference corpora."""
    with open_source(source) as sniffed:
        if sniffed.format is Format.TEXT:
            raise InputReadError(source.where, "plain text, not records")
        if sniffed.format is Format.PARQUET:
            with _parquet_file(source) as parquet:
                row = 0
                for batch in parquet.iter_batches(batch_size=1024):
                    for value in batch.to_pylist():
                        yield SourceLocation(source.key, row=row), value
                        row += 1
            return
        assert sniffed.stream is not None
        if sniffed.format is Format.JSONL:
            for number, line in iter_lines(sniffed.stream):
                yield SourceLocation(source.key, line=number), parse_json_line(line)
        else:
            yield from _json_values(source, sniffed.stream)


def read_text(source: Source, *, encoding: str = "utf-8") -> str:
    """A whole source as one text, decompressed (``InputReadError`` if it is not ``encoding``)."""
    with open_source(source, force=Format.TEXT) as sniffed:
        assert sniffed.stream is not None
        data = sniffed.stream.read()
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InputReadError(source.where, f"not UTF-8 text (byte {exc.start})") from exc


def _json_or_text_items(
    source: Source, sniffed: Sniffed, names: FieldNames
) -> Iterator[Record | Reject]:
    stream = sniffed.stream
    assert stream is not None
    if sniffed.format is Format.TEXT:
        yield _whole_text(source, stream.read())
    elif sniffed.format is Format.JSONL:
        for number, line in iter_lines(stream):
            location = SourceLocation(source.key, line=number)
            yield record_from_json(parse_json_line(line), location, names, raw=line)
    else:
        for location, value in _json_values(source, stream):
            yield record_from_json(value, location, names)


def _whole_text(source: Source, data: bytes) -> Record | Reject:
    location = SourceLocation(source.key)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        reason = f"not UTF-8 text: byte {exc.start} cannot be decoded"
        return Reject(location, source.key, reason, RejectKind.NOT_UTF8)
    return Record(location, source.key, text, fields={"id": source.key, "text": text})


def _json_values(source: Source, stream: IO[bytes]) -> Iterator[tuple[SourceLocation, Any]]:
    """Elements of a JSON array (0-based rows), or a single JSON document (no row)."""
    import ijson

    head = stream.peek(64)  # type: ignore[attr-defined]
    is_array = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"["
    row = 0
    try:
        for value in ijson.items(stream, "item" if is_array else "", use_float=True):
            yield SourceLocation(source.key, row=row if is_array else None), value
            row += 1
    except ijson.JSONError as exc:
        where = f"in element {row}" if is_array else "in the document"
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputReadError(source.where, f"malformed JSON {where} ({detail})") from exc


def _parquet_batches(source: Source, names: FieldNames, batch_size: int) -> Iterator[ReadBatch]:
    size = source.size() or 0
    with _parquet_file(source) as parquet:
        total_rows = max(parquet.metadata.num_rows, 1)
        columns = parquet.schema_arrow.names
        row, reported = 0, 0
        for batch in parquet.iter_batches(batch_size=batch_size):
            texts = _column(batch, columns, names.text)
            ids = _column(batch, columns, names.id)
            items = [
                _parquet_item(source.key, row + i, i, texts[i], ids[i], batch, names)
                for i in range(batch.num_rows)
            ]
            row += batch.num_rows
            position = size * row // total_rows
            yield ReadBatch(items, arrow=batch, bytes_read=position - reported)
            reported = position
        if reported < size:
            yield ReadBatch([], bytes_read=size - reported)


@contextlib.contextmanager
def _parquet_file(source: Source) -> Iterator[Any]:
    """A ``pyarrow.parquet.ParquetFile``: Parquet needs seeking, so stdin is spooled first."""
    import pyarrow.parquet as pq

    try:
        if source.is_local:
            with pq.ParquetFile(source.url) as parquet:
                yield parquet
        elif source.is_stdin:
            with tempfile.TemporaryFile() as spool:
                with source.open() as raw:
                    shutil.copyfileobj(raw, spool)
                spool.seek(0)
                with pq.ParquetFile(spool) as parquet:
                    yield parquet
        else:
            with source.open() as raw, pq.ParquetFile(raw) as parquet:
                yield parquet
    except InputReadError:
        raise
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise InputReadError(source.where, f"cannot read the Parquet file: {exc}") from exc


def _column(batch: Any, columns: list[str], name: str) -> list[Any]:
    if name not in columns:
        return [None] * batch.num_rows
    return batch.column(columns.index(name)).to_pylist()


def _parquet_item(
    key: str, row: int, row_in_batch: int, text: Any, doc_id: Any, batch: Any, names: FieldNames
) -> Record | Reject:
    location = SourceLocation(key, row=row)
    parsed = document_from_record({names.text: text, names.id: doc_id}, location, names)
    if isinstance(parsed, Record):
        return Record(location, parsed.id, parsed.text, row_in_batch=row_in_batch)
    return Reject(
        location,
        parsed.id,
        parsed.reason,
        parsed.kind,
        record=batch.slice(row_in_batch, 1).to_pylist()[0],
        fields=tuple(batch.schema.names),
    )
