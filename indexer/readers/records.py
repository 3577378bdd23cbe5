"""What the readers yield: a record to scan, or a reject that says why it cannot be scanned.

Every input record becomes exactly one of the two, so every surface (``clearance scan``,
``scan-shards``, ``gate``) can write one output line per input record. The checks that turn a
parsed object into a record live here once, so all surfaces reject the same records for the
same reasons.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import orjson


class RejectKind(StrEnum):
    """Why a record cannot be scanned; reports count rejects by these."""

    MALFORMED_JSON = "malformed_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_TEXT = "missing_text"
    TEXT_NOT_STRING = "text_not_string"
    NOT_UTF8 = "not_utf8"


@dataclass(frozen=True)
class SourceLocation:
    """Where a record is: 1-based line of JSON lines, or 0-based row of Parquet / a JSON array.

    A whole-text document has neither.
    """

    file: str
    line: int | None = None
    row: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "row": self.row}

    @property
    def fallback_id(self) -> str:
        """The id of a record that has none: ``file:line`` or ``file:row``."""
        position = self.line if self.line is not None else self.row
        return self.file if position is None else f"{self.file}:{position}"


@dataclass(frozen=True)
class Record:
    """A document to scan.

    ``fields`` is the whole parsed object (JSON), kept so outputs can carry every original
    field; ``None`` for Parquet rows, whose fields stay in the batch's Arrow columns.
    """

    location: SourceLocation
    id: str
    text: str
    fields: dict[str, Any] | None = None
    row_in_batch: int = 0


@dataclass(frozen=True)
class Reject:
    """A record that cannot be scanned, with the reason and what is needed to write it out."""

    location: SourceLocation
    id: str
    reason: str
    kind: RejectKind
    raw: bytes | None = None  # the JSON line, as read
    record: Any = None  # the Parquet row, or the JSON value when there is no line
    # The record's field names, so "no field 'txt'" can say which fields there are.
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReadBatch:
    """Consecutive records of one source, in order; Parquet batches keep their Arrow columns."""

    items: list[Record | Reject]
    arrow: Any = None  # pyarrow.RecordBatch for Parquet sources
    bytes_read: int = 0  # progress through the source's bytes since the previous batch

    @property
    def records(self) -> list[Record]:
        return [item for item in self.items if isinstance(item, Record)]


@dataclass(frozen=True)
class FieldNames:
    """Which fields hold a record's text and id (``--text-field``, ``--id-field``)."""

    text: str = "text"
    id: str = "id"


DEFAULT_FIELDS = FieldNames()


@dataclass(frozen=True)
class BadLine:
    """A JSON line that does not parse: why, and its bytes."""

    reason: str
    kind: RejectKind
    raw: bytes = field(repr=False, default=b"")


def parse_json_line(raw: bytes) -> Any:
    """The value on one JSON line, or ``BadLine`` when it is not UTF-8 or not JSON.

    orjson parses the lines it accepts about 3x faster than ``json``; what it refuses (NaN,
    lone surrogates, integers past 64 bits, bad bytes) goes the ``json`` way, which accepts
    the first three as before and says precisely what is wrong with the rest.
    """
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return BadLine(f"line is not UTF-8 (byte {exc.start})", RejectKind.NOT_UTF8, raw)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        return BadLine(f"malformed JSON: {exc.msg}", RejectKind.MALFORMED_JSON, raw)


def record_from_json(
    value: Any, location: SourceLocation, names: FieldNames, *, raw: bytes | None = None
) -> Record | Reject:
    """A parsed JSON value (a line, an array element, a document) as a record or a reject.

    A reject keeps what it came from: its line (``raw``) when there is one, else the value.
    """
    if isinstance(value, BadLine):
        return Reject(location, location.fallback_id, value.reason, value.kind, raw=value.raw)
    kept = None if raw is not None else value
    if not isinstance(value, dict):
        reason = "record is not a JSON object"
        return Reject(location, location.fallback_id, reason, RejectKind.NOT_AN_OBJECT, raw, kept)
    parsed = document_from_record(value, location, names)
    if isinstance(parsed, Reject):
        return replace(parsed, raw=raw, record=kept)
    return replace(parsed, fields=value)


def document_from_record(
    record: Mapping[str, Any], location: SourceLocation, names: FieldNames
) -> Record | Reject:
    """The document in a record (a JSON object, a Parquet row), or why it cannot be scanned."""
    doc_id = record.get(names.id)
    doc_id = location.fallback_id if doc_id is None else str(doc_id)
    text = record.get(names.text)
    if text is None:
        reason = f"missing field {names.text!r}"
        return Reject(location, doc_id, reason, RejectKind.MISSING_TEXT, fields=tuple(record))
    if isinstance(text, bytes):
        # A binary text column: scan it if it is UTF-8, like a JSON line.
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            reason = f"field {names.text!r} is not UTF-8 (byte {exc.start})"
            return Reject(location, doc_id, reason, RejectKind.NOT_UTF8)
    if not isinstance(text, str):
        reason = f"field {names.text!r} is not a string"
        return Reject(location, doc_id, reason, RejectKind.TEXT_NOT_STRING)
    return Record(location, doc_id, text)
