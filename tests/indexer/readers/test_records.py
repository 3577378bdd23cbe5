"""Records and rejects: every JSON line is a document or a reject with its reason."""

from __future__ import annotations

from indexer.readers import (
    Record,
    Reject,
    RejectKind,
    RejectTally,
    SourceLocation,
    TooManyRejects,
    find_sources,
    read_records,
)


def test_json_lines_become_documents_or_typed_rejects(tmp_path):
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
    records = list(read_records(find_sources([path])))
    assert [(r.id, r.text) for r in records[:2]] == [("a", "hello"), ("docs.jsonl:3", "no id")]
    assert all(isinstance(r, Record) for r in records[:2])
    assert records[0].location == SourceLocation("docs.jsonl", line=1)
    rejects = records[2:]
    assert all(isinstance(r, Reject) for r in rejects)
    assert [(r.id, r.location.line, r.kind) for r in rejects] == [
        ("docs.jsonl:4", 4, RejectKind.MALFORMED_JSON),
        ("docs.jsonl:5", 5, RejectKind.NOT_AN_OBJECT),
        ("5", 6, RejectKind.MISSING_TEXT),
        ("docs.jsonl:7", 7, RejectKind.TEXT_NOT_STRING),
        ("docs.jsonl:8", 8, RejectKind.NOT_UTF8),
    ]
    assert rejects[2].fields == ("id", "body")


def test_a_run_of_rejects_fails_naming_the_field_it_looked_for(web_docs):
    location = SourceLocation("c4.jsonl", line=1)
    tally = RejectTally(text_field="content")
    for _ in range(3):
        tally.add(
            Reject(
                location,
                "x",
                "missing field 'content'",
                RejectKind.MISSING_TEXT,
                fields=("text", "timestamp", "url"),
            )
        )
    assert tally.failed
    message = tally.message()
    assert "all 3 records were rejected (3 missing_text)" in message
    assert "field 'content'" in message and "'text', 'timestamp', 'url'" in message
    tally.add(Record(location, "y", web_docs[0]))
    assert not tally.failed  # by default only a run with nothing scanned fails
    strict = RejectTally(max_share=0.5, records=4, rejected=3)
    strict.kinds["malformed_json"] = 3
    try:
        strict.check()
    except TooManyRejects as exc:
        assert "3 of 4 records were rejected (75.0%, more than the 50.0% allowed)" in str(exc)
    else:
        raise AssertionError("75% rejected passed a 50% limit")
