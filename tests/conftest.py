"""Shared fixtures: real data from ../shared/data, the real model, a small real index.

Everything here is session-scoped: the model loads once (about 5 s) and the small index is
built once (about half a minute), then every test reads it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from indexer.build import build_index
from indexer.corpus import Corpus, CorpusKind, read_text_works
from indexer.embedding import Embedder
from reference_corpora.catalog import data_dir, read_catalog

# Works in the small index; BOOKS_OUTSIDE are books of the same era that are not indexed.
BOOKS_INSIDE = ("books_11-0.txt", "books_1952-0.txt")
BOOKS_OUTSIDE = ("books_35-0.txt", "books_41-0.txt", "books_43-0.txt")


# What a scan process must start without: torch's import alone takes about 7 s.
TORCH_MODULES = ("torch", "transformers", "sentence_transformers")


def fresh_process_output(code: str) -> str:
    """The last line ``code`` prints in a fresh interpreter run from the project root: what a
    new scan process imports is seen only there."""
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = data_dir()
    if not (root / "benchmarks").is_dir():
        pytest.fail(f"real data not found at {root}; set CLEARANCE_DATA_DIR")
    return root


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder()


def catalog_corpus(name: str, data_root: Path, limit: int | None = None) -> Corpus:
    corpus = read_catalog()[name].load(data_root)
    if limit is not None:
        corpus.items = corpus.items[:limit]
    return corpus


def books_corpus(data_root: Path, files: tuple[str, ...], name: str = "books") -> Corpus:
    items = [read_text_works(data_root / "books" / f, name=name).items[0] for f in files]
    return Corpus(name=name, kind=CorpusKind.COPYRIGHT, items=items, source="books")


@pytest.fixture(scope="session")
def small_corpora(data_root: Path) -> list[Corpus]:
    """Small subsets of real corpora: enough to test every path, quick to embed."""
    return [
        catalog_corpus("gsm8k-test", data_root, limit=150),
        catalog_corpus("truthfulqa", data_root, limit=150),
        catalog_corpus("humaneval", data_root, limit=40),
        catalog_corpus("mmlu-test", data_root, limit=120),
        books_corpus(data_root, BOOKS_INSIDE),
    ]


@pytest.fixture(scope="session")
def small_index(tmp_path_factory, small_corpora, embedder) -> Path:
    out = tmp_path_factory.mktemp("index") / "small"
    build_index(out, small_corpora)
    return out


@pytest.fixture(scope="session")
def web_docs(data_root: Path) -> list[str]:
    """Real C4 documents: the haystack to hide things in, and clean negatives."""
    with (data_root / "web" / "c4_sample_1000.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line in handle]


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium through its chromedriver (``tests.browser``), per module."""
    from tests.browser import chromium_driver

    driver = chromium_driver()
    yield driver
    driver.quit()
