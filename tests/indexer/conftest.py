"""Fixtures for the parallel, Ray and resumed builds: real corpora cut into several parts, and
the index they make built in one piece in this process, which every other build must equal."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.build import build_index
from indexer.corpus import Corpus
from indexer.parallel_build import BuildEngine
from indexer.reference_inputs import read_references
from reference_corpora.catalog import load_corpora
from tests.indexer.build_helpers import PARTED_BOOKS, PARTED_CATALOG


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
