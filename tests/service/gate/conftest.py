"""A real shard of C4 pages with benchmark and book text hidden in four of them, scanned for real.

Sixty C4 documents; four carry something from the small index:

    c4-110  a whole GSM8K test item                        -> remove (benchmark)
    c4-120  the shortest opening of another one at review  -> review (benchmark)
    c4-130  the shortest opening of a third that matches   -> reported match, still keep
    c4-140  70 words of an indexed book                    -> remove (copyright)

The two fragments are sized by asking the scanner, so the fixture follows scoring changes; the
fixtures then check every decision once, so a rule test that fails points at the gate.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from typer.testing import CliRunner

from indexer.build import build_index
from indexer.manifest import IndexSettings
from indexer.normalize import NormalizationSettings
from service.cli import app
from service.scanner import Scanner, ScanSettings
from service.shards import scan_shards

HAYSTACK = range(100, 160)
EXPECTED = {
    "c4-110": ("remove", "gsm8k-test", "benchmark"),
    "c4-120": ("review", "gsm8k-test", "benchmark"),
    "c4-130": ("keep", "gsm8k-test", "benchmark"),
    "c4-140": ("remove", "books", "copyright"),
}


def hide(page: str, text: str) -> str:
    cut = len(page) // 2
    return f"{page[:cut]}\n{text}\n{page[cut:]}"


def first_words(text: str, count: int) -> str:
    return " ".join(text.split()[:count])


@pytest.fixture(scope="session")
def verbatim_scanner(small_index) -> Scanner:
    return Scanner.load(small_index, settings=ScanSettings(tiers=("verbatim",)))


def shortest_opening(scanner: Scanner, page: str, item: str, decision: str) -> str:
    """``page`` with the fewest opening words of ``item`` the scanner reports at ``decision``."""
    for count in range(3, len(item.split()) + 1):
        doc = hide(page, first_words(item, count))
        result = scanner.scan(doc)
        if result.matches and result.decision.value == decision:
            return doc
    raise AssertionError(f"no opening of the item scans as {decision}: {item[:80]!r}")


@pytest.fixture(scope="session")
def gate_docs(small_corpora, web_docs, verbatim_scanner) -> list[dict[str, str]]:
    gsm8k = small_corpora[0].items
    book = small_corpora[4].items[0].text
    docs = {f"c4-{i}": web_docs[i] for i in HAYSTACK}
    docs["c4-110"] = hide(docs["c4-110"], gsm8k[7].text)
    docs["c4-120"] = shortest_opening(verbatim_scanner, docs["c4-120"], gsm8k[20].text, "review")
    docs["c4-130"] = shortest_opening(verbatim_scanner, docs["c4-130"], gsm8k[30].text, "keep")
    docs["c4-140"] = hide(docs["c4-140"], " ".join(book.split()[5000:5070]))
    return [{"id": doc_id, "text": text} for doc_id, text in docs.items()]


@pytest.fixture(scope="session")
def gate_results(verbatim_scanner, gate_docs) -> list[dict[str, Any]]:
    """The scanner's own results for the shard, in their JSON form."""
    scanned = verbatim_scanner.scan_many(
        [d["text"] for d in gate_docs], ids=[d["id"] for d in gate_docs]
    )
    results = [r.to_dict() for r in scanned]
    for result in results:
        expected = EXPECTED.get(result["id"])
        if expected is None:
            assert result["matches"] == [], f"clean C4 page {result['id']} matched: {result}"
            continue
        decision, corpus, kind = expected
        assert result["decision"] == decision, result
        assert [(m["corpus"], m["kind"]) for m in result["matches"]] == [(corpus, kind)], result
    return results


def write_jsonl(path: Path, rows: list[dict[str, Any]], extra_lines: tuple[str, ...] = ()) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        for line in extra_lines:
            handle.write(line + "\n")
    return path


@pytest.fixture(scope="session")
def docs_jsonl(tmp_path_factory, gate_docs) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("gate-docs") / "shard.jsonl", gate_docs)


@pytest.fixture(scope="session")
def docs_with_reject_jsonl(tmp_path_factory, gate_docs) -> Path:
    """The same shard plus one record that cannot be scanned (its text is not a string)."""
    return write_jsonl(
        tmp_path_factory.mktemp("gate-docs") / "shard.jsonl",
        gate_docs,
        ('{"id": "broken-1", "text": 42}',),
    )


@pytest.fixture(scope="session")
def scan_results_jsonl(tmp_path_factory, small_index, docs_with_reject_jsonl) -> Path:
    """What `clearance scan --out` wrote for the shard (with its rejected record)."""
    out = tmp_path_factory.mktemp("gate-scan") / "results.jsonl"
    run = CliRunner().invoke(
        app,
        [
            "scan",
            str(docs_with_reject_jsonl),
            "--index",
            str(small_index),
            "--tiers",
            "verbatim",
            "--out",
            str(out),
        ],
    )
    assert run.exit_code == 0, run.output
    return out


@pytest.fixture(scope="session")
def other_index(tmp_path_factory, small_corpora, embedder) -> Path:
    """Five MMLU items: an index with other corpora than the small one, same settings."""
    out = tmp_path_factory.mktemp("other-index") / "index"
    mmlu = small_corpora[3]
    build_index(out, [replace(mmlu, items=mmlu.items[:5])])
    return out


@pytest.fixture(scope="session")
def mismatched_index(tmp_path_factory, small_corpora, embedder) -> Path:
    """An index normalized otherwise (accents kept), as another Clearance version might build."""
    out = tmp_path_factory.mktemp("mismatched-index") / "index"
    mmlu = small_corpora[3]
    settings = IndexSettings(normalization=NormalizationSettings(fold_accents=False))
    build_index(out, [replace(mmlu, items=mmlu.items[:5])], settings=settings)
    return out


@pytest.fixture(scope="session")
def shard_inputs(tmp_path_factory, gate_docs) -> Path:
    """The test shard as two real shards: 30 documents + a broken line in JSONL+zstd, and 30
    in Parquet."""
    folder = tmp_path_factory.mktemp("shard-inputs")
    lines = [json.dumps(d) for d in gate_docs[:30]] + ['{"text": oops']
    data = ("\n".join(lines) + "\n").encode("utf-8")
    (folder / "part-0001.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(data))
    pq.write_table(pa.Table.from_pylist(gate_docs[30:]), folder / "part-0002.parquet")
    return folder


def scan_shard_folder(inputs: Path, index: Path, out: Path, output: str) -> Path:
    """``clearance scan-shards`` over ``inputs`` (verbatim tier, as ``gate_results``)."""
    run = scan_shards(
        [inputs],
        index=index,
        out=out,
        output=output,
        tiers=("verbatim",),
        workers=1,
        progress=False,
    )
    assert run.complete
    return out


@pytest.fixture(scope="session")
def shard_folder(tmp_path_factory, shard_inputs, small_index) -> Path:
    """A real annotated scan-shards output folder of the two shards."""
    out = tmp_path_factory.mktemp("scan-shards") / "out"
    return scan_shard_folder(shard_inputs, small_index, out, "annotated")
