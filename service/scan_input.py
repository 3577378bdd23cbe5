"""Reading documents for ``clearance scan``: a text file, stdin, or JSONL of ``{id, text}``.

A record that cannot be scanned (malformed JSON, missing or non-string text, bytes that are not
UTF-8) is not dropped: it comes out as a ``RejectedRecord`` with its line and the reason, so
every input line ends up in the output exactly once.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class InputDocument:
    id: str
    text: str


class RejectKind(StrEnum):
    """Why a record cannot be scanned; reports count rejects by these."""

    MALFORMED_JSON = "malformed_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_TEXT = "missing_text"
    TEXT_NOT_STRING = "text_not_string"
    NOT_UTF8 = "not_utf8"


@dataclass(frozen=True)
class RejectedRecord:
    id: str
    reason: str
    line: int | None = None
    kind: RejectKind | None = None


def read_documents(
    source: Path | None,
    *,
    jsonl: bool = False,
    text_field: str = "text",
    id_field: str = "id",
) -> Iterator[InputDocument | RejectedRecord]:
    """Documents from a path or stdin; JSONL when ``jsonl`` or the name ends in ``.jsonl``."""
    from_stdin = source is None or str(source) == "-"
    is_jsonl = jsonl or (not from_stdin and str(source).endswith((".jsonl", ".jsonl.gz")))
    if from_stdin:
        data = sys.stdin.buffer.read()
        label = "stdin"
    else:
        path = Path(source)
        if path.name.endswith(".gz"):
            import gzip

            data = gzip.decompress(path.read_bytes())
        else:
            data = path.read_bytes()
        label = path.name
    if not is_jsonl:
        yield _whole_text(data, label)
        return
    yield from _jsonl_records(data, label, text_field, id_field)


def _whole_text(data: bytes, label: str) -> InputDocument | RejectedRecord:
    try:
        return InputDocument(label, data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        reason = f"not UTF-8 text: byte {exc.start} cannot be decoded"
        return RejectedRecord(label, reason, None, RejectKind.NOT_UTF8)


def _jsonl_records(
    data: bytes, label: str, text_field: str, id_field: str
) -> Iterator[InputDocument | RejectedRecord]:
    for line_no, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        _, parsed = parse_jsonl_line(
            raw,
            fallback_id=f"{label}:{line_no}",
            line=line_no,
            text_field=text_field,
            id_field=id_field,
        )
        yield parsed


def parse_jsonl_line(
    raw: bytes, *, fallback_id: str, line: int | None, text_field: str, id_field: str
) -> tuple[dict[str, Any] | None, InputDocument | RejectedRecord]:
    """One JSONL line as (the parsed object or None, the document or why it cannot be scanned).

    Shared by ``clearance scan`` and the shard readers, so both reject the same records for the
    same reasons.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        reason = f"line is not UTF-8 (byte {exc.start})"
        return None, RejectedRecord(fallback_id, reason, line, RejectKind.NOT_UTF8)
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        reason = f"malformed JSON: {exc.msg}"
        return None, RejectedRecord(fallback_id, reason, line, RejectKind.MALFORMED_JSON)
    if not isinstance(record, dict):
        reason = "record is not a JSON object"
        return None, RejectedRecord(fallback_id, reason, line, RejectKind.NOT_AN_OBJECT)
    return record, document_from_record(
        record, fallback_id=fallback_id, line=line, text_field=text_field, id_field=id_field
    )


def document_from_record(
    record: Mapping[str, Any], *, fallback_id: str, line: int | None, text_field: str, id_field: str
) -> InputDocument | RejectedRecord:
    """The document in a record (a JSON object, a Parquet row), or why it cannot be scanned."""
    doc_id = record.get(id_field)
    doc_id = fallback_id if doc_id is None else str(doc_id)
    text = record.get(text_field)
    if text is None:
        reason = f"missing field {text_field!r}"
        return RejectedRecord(doc_id, reason, line, RejectKind.MISSING_TEXT)
    if not isinstance(text, str):
        reason = f"field {text_field!r} is not a string"
        return RejectedRecord(doc_id, reason, line, RejectKind.TEXT_NOT_STRING)
    return InputDocument(doc_id, text)
