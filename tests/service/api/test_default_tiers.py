"""The server with its default tiers (verbatim + paraphrase): the real model behind the API."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from reference_corpora import transforms as T
from service.scanner import Scanner
from tests.service.api.api_server import AUTH, KEY, ServerProcess, plant


@pytest.fixture(scope="module")
def both_tiers(small_index: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(small_index, {"CLEARANCE_API_KEYS": KEY})
    yield server
    server.stop()


def test_default_tiers_are_loaded_and_reported(both_tiers):
    body = both_tiers.client.get("/v1/index", headers=AUTH).json()
    assert sorted(body["tiers"]) == ["paraphrase", "verbatim"]
    assert both_tiers.client.get("/readyz").status_code == 200


def test_a_reworded_item_is_answered_as_the_scanner_answers_it(
    both_tiers, small_index, embedder, small_corpora, web_docs
):
    direct = Scanner.load(small_index, embedder=embedder)
    rng = random.Random(8)
    docs = []
    for number, item in enumerate(small_corpora[0].items[90:96]):
        text = item.text[: item.meta["prompt_end"]]
        for step in (T.retemplate_question, T.swap_vocabulary, T.rename_people):
            text = step(text, rng)
        docs.append({"id": f"doc-{number}", "text": plant(web_docs[600 + number], text)})
    response = both_tiers.client.post("/v1/scan/batch", json={"documents": docs}, headers=AUTH)
    assert response.status_code == 200, response.text
    served = response.json()["results"]
    expected = direct.scan_many([d["text"] for d in docs], ids=[d["id"] for d in docs])
    assert [r["decision"] for r in served] == [r.decision.value for r in expected]
    assert [[m["ref_id"] for m in r["matches"]] for r in served] == [
        [m.ref_id for m in r.matches] for r in expected
    ]
    assert sum(r["decision"] != "keep" for r in served) >= 5
