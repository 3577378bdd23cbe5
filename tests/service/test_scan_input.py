"""``clearance scan`` input: every JSONL line is a document or a reject with its reason."""

from __future__ import annotations

from service.scan_input import InputDocument, RejectedRecord, RejectKind, read_documents


def test_jsonl_lines_become_documents_or_typed_rejects(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_bytes(
        b"\n".join(
            [
                b'{"id": "a", "text": "hello"}',
                b"",
                b'{"text": "no id"}',
                b"{broken",
                b"[1]",
                b'{"id": 5, "body": "x"}',
                b'{"text": 3}',
                b'{"text": "caf\xe9"}',
            ]
        )
    )
    records = list(read_documents(path))
    assert records[:2] == [InputDocument("a", "hello"), InputDocument("docs.jsonl:3", "no id")]
    rejects = records[2:]
    assert all(isinstance(r, RejectedRecord) for r in rejects)
    assert [(r.id, r.line, r.kind) for r in rejects] == [
        ("docs.jsonl:4", 4, RejectKind.MALFORMED_JSON),
        ("docs.jsonl:5", 5, RejectKind.NOT_AN_OBJECT),
        ("5", 6, RejectKind.MISSING_TEXT),
        ("docs.jsonl:7", 7, RejectKind.TEXT_NOT_STRING),
        ("docs.jsonl:8", 8, RejectKind.NOT_UTF8),
    ]
