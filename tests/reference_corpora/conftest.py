"""The suite's data, loaded once for this folder: its near-duplicate pass takes about a minute."""

from __future__ import annotations

from pathlib import Path

import pytest

from reference_corpora.suite import SuiteData


@pytest.fixture(scope="session")
def suite_data(data_root: Path) -> SuiteData:
    return SuiteData.load(data_root)
