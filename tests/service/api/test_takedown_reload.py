"""Takedowns reach a running server when it reloads: the real ``clearance serve``, both tiers.

The server keeps answering from the index it loaded until it reloads (a request never sees
half a change); after ``POST /v1/admin/reload`` no tier reports what was taken down, and
what was kept is answered as before.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

from indexer.takedown import ItemRef, remove_corpus, remove_items
from reference_corpora import transforms as T
from tests.service.api.api_server import AUTH, KEY, ServerProcess, plant

# GSM8K test items of the small index whose rewordings below both tiers find; the first is
# taken down.
GONE, KEPT = 89, 97


def reworded(item, seed: int) -> str:
    rng = random.Random(seed)
    text = item.text[: item.meta["prompt_end"]]
    for step in (T.retemplate_question, T.swap_vocabulary, T.rename_people):
        text = step(text, rng)
    return text


def test_items_and_corpora_taken_down_are_not_served_after_reload(
    tmp_path: Path, small_index: Path, small_corpora, web_docs
):
    served = tmp_path / "served"
    shutil.copytree(small_index, served)
    gsm8k, truthfulqa = small_corpora[0].items, small_corpora[1].items
    gone, kept = gsm8k[GONE], gsm8k[KEPT]
    documents = [
        {"id": "gone verbatim", "text": plant(web_docs[640], gone.text)},
        {"id": "gone reworded", "text": plant(web_docs[600 + GONE], reworded(gone, GONE))},
        {"id": "kept verbatim", "text": plant(web_docs[642], kept.text)},
        {"id": "kept reworded", "text": plant(web_docs[600 + KEPT], reworded(kept, KEPT))},
        {"id": "truthfulqa", "text": plant(web_docs[644], truthfulqa[7].text)},
    ]
    server = ServerProcess(served, {"CLEARANCE_API_KEYS": KEY})  # default tiers: both
    try:

        def ask() -> dict[str, set[tuple[str, str, str]]]:
            """Per document, each (corpus, ref_id, method) its matches name."""
            response = server.client.post(
                "/v1/scan/batch", json={"documents": documents}, headers=AUTH
            )
            assert response.status_code == 200, response.text
            return {
                r["id"]: {
                    (m["corpus"], m["ref_id"], method)
                    for m in r["matches"]
                    for method in m["methods"]
                }
                for r in response.json()["results"]
            }

        def reload() -> None:
            response = server.client.post("/v1/admin/reload", headers=AUTH)
            assert response.status_code == 200, response.text

        before = ask()
        assert ("gsm8k-test", gone.id, "verbatim") in before["gone verbatim"]
        assert ("gsm8k-test", gone.id, "paraphrase") in before["gone reworded"]
        assert ("gsm8k-test", kept.id, "paraphrase") in before["kept reworded"]
        assert ("truthfulqa", truthfulqa[7].id, "verbatim") in before["truthfulqa"]

        remove_items(served, [ItemRef(gone.id, "gsm8k-test")])
        assert ask() == before  # still the index it loaded, whole, until it reloads
        reload()
        after = ask()
        for doc, found in after.items():
            assert not {m for m in found if m[:2] == ("gsm8k-test", gone.id)}, (doc, found)
        for doc in ("kept verbatim", "kept reworded", "truthfulqa"):
            assert after[doc] == before[doc], doc

        remove_corpus(served, "truthfulqa")
        reload()
        info = server.client.get("/v1/index", headers=AUTH).json()
        assert [c["name"] for c in info["manifest"]["removed_corpora"]] == ["truthfulqa"]
        served_corpora = {c["name"]: c for c in info["manifest"]["corpora"]}
        assert "truthfulqa" not in served_corpora
        assert served_corpora["gsm8k-test"]["removed_items"] == 1
        assert info["totals"]["removed_items"] == 1
        last = ask()
        assert not last["truthfulqa"] and last["kept verbatim"] == before["kept verbatim"]
    finally:
        server.stop()
    assert server.stopped_gracefully(), server.lines[-5:]
