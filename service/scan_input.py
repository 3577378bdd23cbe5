"""Reading documents for ``clearance scan``: a text file, stdin, or JSONL of ``{id, text}``.

A record that cannot be scanned (malformed JSON, missing or non-string text, bytes that are not
UTF-8) is not dropped: it comes out as a ``RejectedRecord`` with its line and the reason, so
every input line ends up in the output exactly once.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class InputDocument:
    id: str
    text: str


@dataclass(frozen=True)
class RejectedRecord:
    id: str
    reason: str
    line: int | None = None


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
        return RejectedRecord(label, f"not UTF-8 text: byte {exc.start} cannot be decoded")


def _jsonl_records(
    data: bytes, label: str, text_field: str, id_field: str
) -> Iterator[InputDocument | RejectedRecord]:
    for line_no, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        fallback_id = f"{label}:{line_no}"
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield RejectedRecord(fallback_id, f"line is not UTF-8 (byte {exc.start})", line_no)
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield RejectedRecord(fallback_id, f"malformed JSON: {exc.msg}", line_no)
            continue
        if not isinstance(record, dict):
            yield RejectedRecord(fallback_id, "record is not a JSON object", line_no)
            continue
        doc_id = record.get(id_field)
        doc_id = fallback_id if doc_id is None else str(doc_id)
        text = record.get(text_field)
        if text is None:
            yield RejectedRecord(doc_id, f"missing field {text_field!r}", line_no)
        elif not isinstance(text, str):
            yield RejectedRecord(doc_id, f"field {text_field!r} is not a string", line_no)
        else:
            yield InputDocument(doc_id, text)
