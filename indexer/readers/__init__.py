"""One reader for every surface: ``clearance scan``, ``scan-shards``, ``gate`` and ``index build``.

Inputs are files, folders, globs or stdin, local or remote (fsspec), holding JSON lines, a JSON
array or document, Parquet, or plain text, compressed or not; the format is told by content.
``find_sources`` names the inputs, ``read_batches`` / ``read_records`` stream each one's
records (``Record``) and the records that cannot be scanned (``Reject``, with the reason).

>>> sources = find_sources(["crawl/", "extra.parquet"])                  # doctest: +SKIP
>>> for item in read_records(sources, names=FieldNames(text="content")):  # doctest: +SKIP
...     print(item.id, type(item).__name__)
"""

from __future__ import annotations

from indexer.readers.read import (
    detect_format,
    open_source,
    read_batches,
    read_records,
    read_text,
    read_values,
)
from indexer.readers.records import (
    BadLine,
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
from indexer.readers.rejects import RejectTally, TooManyRejects, first_record_fields
from indexer.readers.sources import STDIN, Source, find_sources, total_size
from indexer.readers.streams import Format, InputReadError, decompress, iter_lines

__all__ = [
    "STDIN",
    "BadLine",
    "FieldNames",
    "Format",
    "InputReadError",
    "ReadBatch",
    "Record",
    "Reject",
    "RejectKind",
    "RejectTally",
    "Source",
    "SourceLocation",
    "TooManyRejects",
    "decompress",
    "detect_format",
    "document_from_record",
    "find_sources",
    "first_record_fields",
    "iter_lines",
    "open_source",
    "parse_json_line",
    "read_batches",
    "read_records",
    "read_text",
    "read_values",
    "record_from_json",
    "total_size",
]
