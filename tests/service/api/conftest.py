"""Fixtures for the API tests: one shared real server on the session's small index."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.service.api.api_server import (
    MAX_BATCH_DOCUMENTS,
    MAX_DOCUMENT_BYTES,
    MAX_REQUEST_BYTES,
    ServerProcess,
    verbatim_env,
)


@pytest.fixture(scope="session")
def api_server(small_index: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(
        small_index,
        verbatim_env(
            CLEARANCE_MAX_DOCUMENT_BYTES=str(MAX_DOCUMENT_BYTES),
            CLEARANCE_MAX_BATCH_DOCUMENTS=str(MAX_BATCH_DOCUMENTS),
            CLEARANCE_MAX_REQUEST_BYTES=str(MAX_REQUEST_BYTES),
        ),
    )
    yield server
    server.stop()
    assert server.stopped_gracefully(), server.lines[-5:]


@pytest.fixture
def client(api_server: ServerProcess) -> httpx.Client:
    return api_server.client
