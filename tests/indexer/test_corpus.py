from __future__ import annotations

import json

import pytest

from indexer.corpus import (
    CorpusInputError,
    CorpusKind,
    read_reference_jsonl,
    read_text_works,
    strip_gutenberg,
)


def _write(path, rows):
    path.write_text("\n".join(json.dumps(r) if isinstance(r, dict) else r for r in rows) + "\n")
    return path


def _q(**extra) -> dict:
    return {
        "id": "1",
        "text": "Why? It is so.\nAnswer",
        "corpus": "q",
        "kind": "benchmark",
        **extra,
    }


def test_prompt_and_stem_offsets_in_meta_are_kept(tmp_path):
    row = _q(meta={"stem_end": 4, "prompt_end": 14, "source": "mine"})
    (corpus,) = read_reference_jsonl(_write(tmp_path / "refs.jsonl", [row]))
    assert corpus.items[0].meta == {"stem_end": 4, "prompt_end": 14, "source": "mine"}


def test_generic_jsonl_groups_items_by_corpus(tmp_path):
    path = _write(
        tmp_path / "refs.jsonl",
        [
            {"id": "1", "text": "first question", "corpus": "quiz", "kind": "benchmark"},
            {"id": "w", "text": "a whole work", "corpus": "novels", "kind": "copyright"},
            {"id": "2", "text": "second question", "corpus": "quiz", "kind": "benchmark"},
        ],
    )
    corpora = read_reference_jsonl(path)
    assert [(c.name, c.kind, [i.id for i in c.items]) for c in corpora] == [
        ("quiz", CorpusKind.BENCHMARK, ["1", "2"]),
        ("novels", CorpusKind.COPYRIGHT, ["w"]),
    ]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("{not json", "refs.jsonl:1: not valid JSON"),
        ({"id": "1", "text": "x", "corpus": "q"}, "missing field 'kind'"),
        ({"id": "1", "text": 3, "corpus": "q", "kind": "benchmark"}, "'text' must be a string"),
        ({"id": "1", "text": "x", "corpus": "q", "kind": "secret"}, "kind is 'benchmark' or"),
        ({"id": "1", "text": "x", "corpus": "bad name!", "kind": "benchmark"}, "corpus name"),
        (_q(meta=[1]), "'meta' must be a JSON object"),
        (_q(meta={"prompt_end": "12"}), r"meta.prompt_end must be a character offset in 1..21"),
        (_q(meta={"prompt_end": 99}), "meta.prompt_end must be a character offset"),
        (_q(meta={"stem_end": 0}), "meta.stem_end must be a character offset"),
        (_q(meta={"stem_end": 12, "prompt_end": 5}), "stem_end comes after meta.prompt_end"),
    ],
)
def test_bad_reference_lines_are_refused_with_file_and_line(tmp_path, row, message):
    with pytest.raises(CorpusInputError, match=message.replace("(", r"\(")):
        read_reference_jsonl(_write(tmp_path / "refs.jsonl", [row]))


def test_duplicate_ids_and_mixed_kinds_are_refused(tmp_path):
    dup = _write(
        tmp_path / "dup.jsonl",
        [
            {"id": "1", "text": "a", "corpus": "q", "kind": "benchmark"},
            {"id": "1", "text": "b", "corpus": "q", "kind": "benchmark"},
        ],
    )
    with pytest.raises(CorpusInputError, match="duplicate item id '1'"):
        read_reference_jsonl(dup)
    mixed = _write(
        tmp_path / "mixed.jsonl",
        [
            {"id": "1", "text": "a", "corpus": "q", "kind": "benchmark"},
            {"id": "2", "text": "b", "corpus": "q", "kind": "copyright"},
        ],
    )
    with pytest.raises(CorpusInputError, match=r"mixed\.jsonl:2"):
        read_reference_jsonl(mixed)


def test_gutenberg_header_and_footer_are_stripped_from_real_books(data_root):
    work = read_text_works(data_root / "books" / "books_11-0.txt", name="alice").items[0]
    assert "Project Gutenberg" not in work.text[:300]
    assert "Project Gutenberg" not in work.text[-300:]
    assert "Alice" in work.text[:2000]
    raw = (data_root / "books" / "books_11-0.txt").read_text(encoding="utf-8-sig")
    assert raw[work.meta["offset"] : work.meta["offset"] + 100] == work.text[:100]


def test_strip_gutenberg_leaves_other_text_alone():
    assert strip_gutenberg("plain text") == ("plain text", 0)
