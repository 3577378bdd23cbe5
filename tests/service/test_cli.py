"""The `clearance` command, run as a user runs it: a real subprocess, real data, real model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import catalog_corpus

CLEARANCE = str(Path(sys.executable).with_name("clearance"))


def run(*args: str, stdin: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([CLEARANCE, *args], input=stdin, capture_output=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"clearance {' '.join(args)} failed:\n{result.stderr.decode()}")
    return result


@pytest.fixture(scope="module")
def cli_index(tmp_path_factory, data_root):
    """`clearance index build --out INDEX_DIR refs.jsonl`, exactly as written in the issue."""
    folder = tmp_path_factory.mktemp("cli")
    gsm = catalog_corpus("gsm8k-test", data_root, limit=25)
    tqa = catalog_corpus("truthfulqa", data_root, limit=25)
    refs = folder / "refs.jsonl"
    with refs.open("w", encoding="utf-8") as handle:
        for corpus in (gsm, tqa):
            for item in corpus.items:
                handle.write(
                    json.dumps(
                        {
                            "id": item.id,
                            "text": item.text,
                            "corpus": corpus.name,
                            "kind": "benchmark",
                        }
                    )
                    + "\n"
                )
    index = folder / "INDEX_DIR"
    run("index", "build", "--out", str(index), str(refs), "--no-progress")
    return index, gsm, tqa


def test_index_info_lists_the_corpora(cli_index):
    index, _, _ = cli_index
    out = run("index", "info", str(index)).stdout.decode()
    assert "gsm8k-test" in out and "truthfulqa" in out and "all-MiniLM-L6-v2" in out
    manifest = json.loads(run("index", "info", str(index), "--json").stdout)
    assert [c["items"] for c in manifest["corpora"]] == [25, 25]


def test_scan_jsonl_writes_one_result_per_record_bad_ones_included(cli_index, tmp_path, web_docs):
    index, gsm, tqa = cli_index
    hidden = web_docs[5][:300] + "\n" + gsm.items[3].text + "\n" + web_docs[5][300:]
    docs = tmp_path / "docs.jsonl"
    lines = [
        json.dumps({"id": "hidden", "text": hidden}).encode(),
        json.dumps({"id": "clean", "text": web_docs[6]}).encode(),
        b'{"id": "broken", "text": ',
        json.dumps({"id": "no-text"}).encode(),
        json.dumps({"id": "number", "text": 42}).encode(),
        b'{"id": "latin1", "text": "caf\xe9"}',
        json.dumps({"text": tqa.items[4].text}).encode(),
    ]
    docs.write_bytes(b"\n".join(lines) + b"\n")
    results = tmp_path / "results.jsonl"

    run("scan", "--index", str(index), str(docs), "--out", str(results))

    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert [r["id"] for r in rows] == [
        "hidden",
        "clean",
        "docs.jsonl:3",
        "no-text",
        "number",
        "docs.jsonl:6",
        "docs.jsonl:7",
    ]
    by_id = {r["id"]: r for r in rows}
    assert by_id["hidden"]["decision"] == "remove"
    assert by_id["hidden"]["matches"][0]["ref_id"] == gsm.items[3].id
    assert by_id["clean"]["decision"] == "keep"
    assert by_id["docs.jsonl:7"]["matches"][0]["ref_id"] == tqa.items[4].id
    errors = {r["id"]: r["error"] for r in rows if r["decision"] is None}
    assert errors == {
        "docs.jsonl:3": "malformed JSON: Expecting value",
        "no-text": "missing field 'text'",
        "number": "field 'text' is not a string",
        "docs.jsonl:6": "line is not UTF-8 (byte 29)",
    }


def test_scan_reads_a_text_file_and_stdin(cli_index, tmp_path):
    index, gsm, _ = cli_index
    page = tmp_path / "page.txt"
    page.write_text("Homework help!\n\n" + gsm.items[9].text.upper(), encoding="utf-8")
    (row,) = [
        json.loads(x)
        for x in run(
            "scan", "--index", str(index), "--tiers", "verbatim", str(page)
        ).stdout.splitlines()
    ]
    assert (row["id"], row["decision"]) == ("page.txt", "remove")
    out = run("scan", "--index", str(index), "--tiers", "verbatim", stdin=b"nothing to see here")
    assert json.loads(out.stdout)["decision"] == "keep"


def test_index_add_and_errors_exit_with_a_message(cli_index, tmp_path, data_root):
    index, _, _ = cli_index
    run(
        "index",
        "add",
        "--index",
        str(index),
        str(data_root / "books" / "books_1952-0.txt"),
        "--name",
        "wallpaper",
        "--no-progress",
    )
    manifest = json.loads(run("index", "info", str(index), "--json").stdout)
    assert [c["name"] for c in manifest["corpora"]] == ["gsm8k-test", "truthfulqa", "wallpaper"]
    missing = run("scan", "--index", str(tmp_path / "nope"), stdin=b"x", check=False)
    assert missing.returncode == 2 and b"not a Clearance index" in missing.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1, "text": "x"}\n')
    refused = run("index", "build", "--out", str(tmp_path / "i2"), str(bad), check=False)
    assert refused.returncode == 2 and b"missing field 'corpus'" in refused.stderr
