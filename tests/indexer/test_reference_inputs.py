"""What `index build` reads: records by content, works as text, defaults for name and kind."""

from __future__ import annotations

import gzip
import json

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from indexer.corpus import CorpusInputError, CorpusKind, read_reference_jsonl
from indexer.reference_inputs import read_references
from tests.conftest import catalog_corpus


@pytest.fixture(scope="module")
def gsm(data_root):
    return catalog_corpus("gsm8k-test", data_root, limit=12)


def _records(reference, **extra):
    return [{"id": i.id, "text": i.text, **extra} for i in reference.items]


def test_records_are_read_whatever_the_container(gsm, tmp_path, data_root):
    full = _records(gsm, corpus="gsm", kind="benchmark")
    (tmp_path / "refs.json").write_text(json.dumps(full, indent=1))
    (tmp_path / "lines.json").write_text("".join(json.dumps(r) + "\n" for r in full))
    pq.write_table(pa.Table.from_pylist(_records(gsm)), tmp_path / "bare.parquet")
    book = (data_root / "books" / "books_11-0.txt").read_bytes()
    (tmp_path / "books_11-0.txt.gz").write_bytes(gzip.compress(book))
    for name in ("refs.json", "lines.json"):
        (corpus,) = read_references([tmp_path / name])
        assert (corpus.name, corpus.kind, len(corpus.items)) == ("gsm", CorpusKind.BENCHMARK, 12)
        assert [i.text for i in corpus.items] == [i.text for i in gsm.items]
    (corpus,) = read_references([tmp_path / "bare.parquet"], name="gsm-pq", kind="benchmark")
    assert (corpus.name, corpus.kind, len(corpus.items)) == ("gsm-pq", CorpusKind.BENCHMARK, 12)
    (work,) = read_references([tmp_path / "books_11-0.txt.gz"], name="alice")
    assert (work.name, work.kind, work.items[0].id) == ("alice", CorpusKind.COPYRIGHT, "books_11-0")
    assert work.items[0].meta["offset"] > 0  # the Gutenberg header is stripped, as for .txt
    assert (
        work.items[0].text
        == read_references([data_root / "books" / "books_11-0.txt"])[0].items[0].text
    )


def test_record_fields_win_over_the_defaults_and_missing_ones_say_how_to_fix(gsm, tmp_path):
    path = tmp_path / "mixed.jsonl"
    rows = [*_records(gsm)[:3], {"id": "own", "text": "x", "corpus": "other", "kind": "copyright"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    corpora = read_reference_jsonl(path, name="gsm", kind=CorpusKind.BENCHMARK)
    assert [(c.name, c.kind, len(c.items)) for c in corpora] == [
        ("gsm", CorpusKind.BENCHMARK, 3),
        ("other", CorpusKind.COPYRIGHT, 1),
    ]
    with pytest.raises(CorpusInputError, match=r"mixed\.jsonl:1: missing field 'corpus' \(or"):
        read_reference_jsonl(path)
    with pytest.raises(CorpusInputError, match=r"mixed\.jsonl:1: missing field 'kind' \(or give"):
        read_reference_jsonl(path, name="gsm")


def test_references_from_an_fsspec_url(gsm, tmp_path):
    memory = fsspec.filesystem("memory")
    records = _records(gsm, corpus="gsm", kind="benchmark")
    memory.pipe("/refs/gsm.json", json.dumps(records).encode())
    try:
        (corpus,) = read_references(["memory://refs/gsm.json"])
        assert len(corpus.items) == 12 and corpus.items[0].id == gsm.items[0].id
        (again,) = read_reference_jsonl("memory://refs/gsm.json")
        assert [i.id for i in again.items] == [i.id for i in corpus.items]
    finally:
        memory.rm("/refs", recursive=True)
    with pytest.raises(CorpusInputError, match="does not exist"):
        read_references([tmp_path / "absent.json"])
