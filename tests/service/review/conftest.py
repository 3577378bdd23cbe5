"""Real scan results to review: C4 pages with GSM8K items and book text hidden in five of them.

    rv-remove   a whole GSM8K test item                          -> remove (benchmark)
    rv-review   the shortest opening of another at review        -> review (benchmark)
    rv-review2  the shortest opening of a third at review        -> review (benchmark)
    rv-html     a GSM8K item inside HTML and a script            -> remove (benchmark)
    rv-book     70 words of an indexed book                      -> remove (copyright)

Two shards, one plain JSON lines (read back by offset; rv-remove and rv-review) and one
gzipped (read back by line; the others),
scanned for real by ``scan_shards``; and the same documents through ``clearance scan --out``.
"""

from __future__ import annotations

import gzip
import json
import random
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reference_corpora import transforms as T
from reference_corpora.suite import hide as hide_at_random
from service.cli import app
from service.scanner import Scanner
from service.shards import scan_shards
from tests.service.gate.conftest import hide, shortest_opening, verbatim_scanner  # noqa: F401

HOSTILE = '<script>document.title="pwned"</script><b onmouseover="x()">bold</b> & <i>'
EXPECTED = {
    "rv-remove": "remove",
    "rv-review": "review",
    "rv-review2": "review",
    "rv-html": "remove",
    "rv-book": "remove",
}


@pytest.fixture(scope="session")
def review_docs(small_corpora, web_docs, verbatim_scanner) -> list[dict[str, str]]:  # noqa: F811
    gsm8k, book = small_corpora[0].items, small_corpora[4].items[0].text
    docs = {f"c4-{i}": web_docs[i] for i in range(400, 410)}
    docs["rv-remove"] = hide(web_docs[430], gsm8k[7].text)
    docs["rv-review"] = shortest_opening(verbatim_scanner, web_docs[431], gsm8k[20].text, "review")
    docs.update({f"c4-{i}": web_docs[i] for i in range(410, 418)})  # 20 records: part-1
    docs["rv-review2"] = shortest_opening(verbatim_scanner, web_docs[432], gsm8k[50].text, "review")
    docs["rv-html"] = hide(web_docs[433], f"{HOSTILE}\n{gsm8k[40].text}\n{HOSTILE}")
    docs["rv-book"] = hide(web_docs[434], " ".join(book.split()[5000:5070]))
    docs.update({f"c4-{i}": web_docs[i] for i in range(418, 430)})
    return [{"id": doc_id, "text": text} for doc_id, text in docs.items()]


@pytest.fixture(scope="session")
def review_inputs(tmp_path_factory, review_docs) -> Path:
    folder = tmp_path_factory.mktemp("review-inputs")
    lines = [json.dumps(d) + "\n" for d in review_docs]
    (folder / "part-1.jsonl").write_text("".join(lines[:20]), encoding="utf-8")
    (folder / "part-2.jsonl.gz").write_bytes(gzip.compress("".join(lines[20:]).encode()))
    return folder


@pytest.fixture(scope="session")
def scanned_shards(tmp_path_factory, review_inputs, small_index) -> Path:
    """A real scan-shards folder; tests that write verdicts take a copy (``shard_results``)."""
    out = tmp_path_factory.mktemp("review-scan") / "out"
    run = scan_shards(
        [review_inputs], index=small_index, out=out, tiers=("verbatim",), workers=1, progress=False
    )
    assert run.complete
    assert {d: run.report["decisions"][d] for d in ("review", "remove")} == {
        "review": 2,
        "remove": 3,
    }
    return out


@pytest.fixture
def shard_results(scanned_shards, tmp_path) -> Path:
    return Path(shutil.copytree(scanned_shards, tmp_path / "out"))


@pytest.fixture(scope="session")
def scanned_file(tmp_path_factory, review_inputs, small_index) -> Path:
    """What `clearance scan --out` wrote for both shards (results only, no text)."""
    out = tmp_path_factory.mktemp("review-file") / "results.jsonl"
    run = CliRunner().invoke(
        app,
        [
            *("scan", str(review_inputs), "--index", str(small_index)),
            *("--tiers", "verbatim", "--out", str(out)),
        ],
    )
    assert run.exit_code == 0, run.output
    return out


@pytest.fixture(scope="session")
def both_tiers_scan(tmp_path_factory, small_index, small_corpora, web_docs, embedder):
    """(results file, documents file) of `clearance scan --near-misses 3`, both tiers, over two
    clean pages and one holding a reworded GSM8K question that both tiers find (the first of
    a few, asked of the scanner), so that its evidence is verbatim and paraphrase.

    Sentences reordered: most lighter rewordings keep enough of the question's words for the
    verbatim tier to remove the item alone, and the paraphrase tier leaves such items be."""
    scanner = Scanner.load(small_index, embedder=embedder)
    rng = random.Random(5)
    for number, item in enumerate(small_corpora[0].items[40:60]):
        text = item.text[: item.meta["prompt_end"]]
        for step in (T.swap_vocabulary, T.retemplate_question, T.reorder_sentences):
            text = step(text, rng)
        page = hide_at_random(text, web_docs[500 + number], random.Random(number))[0]
        if any(len(m.methods) == 2 for m in scanner.scan(page).matches):
            break
    else:
        raise AssertionError("no reworded question was found by both tiers")
    folder = tmp_path_factory.mktemp("both-tiers")
    docs = folder / "docs.jsonl"
    rows = [{"id": "clean-1", "text": web_docs[520]}, {"id": "reworded", "text": page}]
    rows.append({"id": "clean-2", "text": web_docs[521]})
    docs.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    results = folder / "results.jsonl"
    run = CliRunner().invoke(
        app,
        [
            *("scan", str(docs), "--index", str(small_index)),
            *("--near-misses", "3"),
            "--out",
            str(results),
        ],
    )
    assert run.exit_code == 0, run.output
    return results, docs
