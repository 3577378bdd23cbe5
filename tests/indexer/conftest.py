"""Fixtures for the parallel, Ray and resumed builds: real corpora cut into several parts, and
the index they make built in one piece in this process, which every other build must equal."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from indexer.build import build_index
from indexer.corpus import Corpus
from indexer.parallel_build import BuildEngine
from indexer.reference_inputs import read_references
from reference_corpora.catalog import load_corpora

# Five books of 90-370 KB (one corpus: a glob is one input) and two whole benchmark test sets
# (one prose, one code): with PART_CHARS, ten parts, four of books and five of gsm8k-test.
PARTED_BOOKS = "books/books_[34]?-0.txt"
PARTED_CATALOG = ("gsm8k-test", "humaneval")
PART_CHARS = 150_000

# What two builds of the same corpora and settings may write differently: when they ran.
# Everything else of the manifest, and every byte of every other file, must be the same.
BUILD_TIMES = ("created_at", "updated_at")
CORPUS_BUILD_TIMES = ("built_at",)


def index_content(index_dir: Path) -> dict:
    """The manifest less the build times, and the SHA-256 of every other file of the index."""
    manifest = json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))
    for key in BUILD_TIMES:
        manifest.pop(key)
    for corpus in manifest["corpora"]:
        for key in CORPUS_BUILD_TIMES:
            corpus.pop(key)
    files = {
        str(path.relative_to(index_dir)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(index_dir.rglob("*"))
        if path.is_file() and path.name != "manifest.json"
    }
    return {"manifest": manifest, "files": files}


@pytest.fixture(scope="session")
def parted_inputs(data_root: Path) -> list[str]:
    """``clearance index build`` arguments for the parted corpora (no --out)."""
    catalog = [arg for name in PARTED_CATALOG for arg in ("--corpus", name)]
    return [str(data_root / PARTED_BOOKS), "--name", "books", *catalog]


@pytest.fixture(scope="session")
def parted_corpora(data_root: Path) -> list[Corpus]:
    """The parted corpora as ``clearance index build`` reads them: catalog ones first."""
    books = read_references([str(data_root / PARTED_BOOKS)], name="books")
    return [*load_corpora(list(PARTED_CATALOG), data_root), *books]


@pytest.fixture(scope="session")
def whole_build(tmp_path_factory, parted_corpora) -> Path:
    """The parted corpora built in this process, each corpus in one piece."""
    out = tmp_path_factory.mktemp("builds") / "whole"
    build_index(out, parted_corpora, engine=BuildEngine(workers=1, part_chars=10**9))
    return out
