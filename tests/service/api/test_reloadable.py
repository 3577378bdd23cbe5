"""Hot reload, load failures and timeouts, on real servers.

The served index path is a symlink, flipped between two real indexes the way a deployment
swaps a rebuilt index in: the small index holds GSM8K, the tiny one does not, so every answer
shows which index judged it.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import shutil
import signal
import time
import weakref
from pathlib import Path

import httpx
import pytest

from indexer.build import build_index
from service.api.metrics import ApiMetrics
from service.api.reloadable import ReloadableScanner, _freeze_survivors
from service.api.settings import ApiSettings
from tests.conftest import catalog_corpus
from tests.service.api.api_server import AUTH, ServerProcess, metric_value, plant, verbatim_env


@pytest.fixture(scope="module")
def tiny_index(tmp_path_factory, data_root, embedder) -> Path:
    out = tmp_path_factory.mktemp("tiny") / "tiny"
    build_index(out, [catalog_corpus("truthfulqa", data_root, limit=30)])
    return out


@pytest.fixture(scope="module")
def broken_index(tmp_path_factory, small_index) -> Path:
    """The small index with one array missing: its manifest reads, its corpora do not load."""
    out = tmp_path_factory.mktemp("broken") / "broken"
    shutil.copytree(small_index, out)
    (out / "corpora" / "gsm8k-test" / "ngram_hashes.npy").unlink()
    return out


def point(link: Path, target: Path) -> None:
    """Re-point ``link`` at ``target`` atomically (a new symlink renamed over the old)."""
    tmp = link.with_name(link.name + ".new")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    os.replace(tmp, link)


def generation(client: httpx.Client) -> int:
    return client.get("/v1/index", headers=AUTH).json()["generation"]


def test_reload_under_concurrent_load_swaps_atomically_with_zero_failures(
    tmp_path, small_index, tiny_index, small_corpora, web_docs
):
    current = tmp_path / "current"
    point(current, small_index)
    server = ServerProcess(current, verbatim_env())
    doc = plant(web_docs[40], small_corpora[0].items[11].text)
    page = "\n".join(web_docs[50:70])[:19_000]
    big = [{"id": str(i), "text": plant(page, small_corpora[0].items[i].text)} for i in range(80)]
    # Generations 1 and 3 serve the small index (GSM8K inside), 2 and 4 the tiny one.
    expected = {"1": "remove", "2": "keep", "3": "remove", "4": "keep"}

    async def run() -> tuple[list, httpx.Response, list[httpx.Response], bool]:
        async with httpx.AsyncClient(base_url=server.url, headers=AUTH, timeout=60) as http:
            stop = asyncio.Event()
            outcomes: list[tuple[int, str | None, str | None]] = []

            async def keep_scanning() -> None:
                while not stop.is_set():
                    r = await http.post("/v1/scan", json={"text": doc})
                    decision = r.json().get("decision") if r.status_code == 200 else None
                    outcomes.append((r.status_code, r.headers.get("x-index-generation"), decision))

            workers = [asyncio.create_task(keep_scanning()) for _ in range(8)]
            batch = asyncio.create_task(http.post("/v1/scan/batch", json={"documents": big}))
            while metric_value(
                (await http.get("/metrics")).text, "clearance_scan_documents_in_progress"
            ) < len(big):
                assert not batch.done(), batch.result().text
            reloads = []
            for target in (tiny_index, small_index, tiny_index):
                point(current, target)
                reloads.append(await http.post("/v1/admin/reload"))
                if len(reloads) == 1:
                    batch_was_running = not batch.done()
                    await batch  # scans queued behind it on the old index drain too
                await asyncio.sleep(0.5)
            stop.set()
            await asyncio.gather(*workers)
            return outcomes, batch.result(), reloads, batch_was_running

    try:
        outcomes, batch, reloads, batch_was_running = asyncio.run(run())
    finally:
        server.stop()

    assert [r.status_code for r in reloads] == [200, 200, 200]
    assert [r.json()["generation"] for r in reloads] == [2, 3, 4]
    assert reloads[0].json()["corpora"] == ["truthfulqa"]
    failures = [o for o in outcomes if o[0] != 200]
    assert not failures and len(outcomes) > 50
    assert all(decision == expected[gen] for _, gen, decision in outcomes)
    assert {gen for _, gen, _ in outcomes} == {"1", "2", "3", "4"}
    # The batch was in the scanner when the index changed, and finished on the old one.
    assert batch_was_running
    assert batch.status_code == 200 and batch.headers["x-index-generation"] == "1"
    assert [r["decision"] for r in batch.json()["results"]] == ["remove"] * len(big)
    assert server.stopped_gracefully()


def test_failed_reload_keeps_the_old_index_serving(tmp_path, small_index, broken_index, web_docs):
    current = tmp_path / "current"
    point(current, small_index)
    server = ServerProcess(current, verbatim_env())
    try:
        point(current, broken_index)
        reload = server.client.post("/v1/admin/reload", headers=AUTH)
        scan = server.client.post("/v1/scan", json={"text": web_docs[0]}, headers=AUTH)
        ready = server.client.get("/readyz").json()
        metrics = server.client.get("/metrics").text
    finally:
        server.stop()

    assert reload.status_code == 409
    error = reload.json()["error"]
    assert error["code"] == "reload_failed"
    assert (
        "ngram_hashes.npy" in error["message"] and "still serving generation 1" in error["message"]
    )
    assert scan.status_code == 200 and scan.headers["x-index-generation"] == "1"
    assert ready == {"status": "ready", "generation": 1, "error": None}
    assert metric_value(metrics, "clearance_index_reloads_total", outcome="failed") == 1


def test_broken_index_at_start_is_alive_not_ready_until_sighup_fixes_it(
    tmp_path, small_index, broken_index
):
    current = tmp_path / "current"
    point(current, broken_index)
    server = ServerProcess(current, verbatim_env(), wait_ready=False)
    try:
        ready = server.client.get("/readyz")
        while ready.json()["status"] == "loading":
            time.sleep(0.05)
            ready = server.client.get("/readyz")
        health = server.client.get("/healthz")
        scan = server.client.post("/v1/scan", json={"text": "x"}, headers=AUTH)
        point(current, small_index)
        server.send_signal(signal.SIGHUP)
        after = server.wait_ready(timeout=30)
        scan_after = server.client.post("/v1/scan", json={"text": "x"}, headers=AUTH)
    finally:
        server.stop()

    assert ready.status_code == 503
    assert ready.json()["status"] == "failed" and "ngram_hashes.npy" in ready.json()["error"]
    assert health.status_code == 200
    assert scan.status_code == 503 and scan.json()["error"]["code"] == "not_ready"
    assert after == {"status": "ready", "generation": 1, "error": None}
    assert scan_after.status_code == 200
    assert server.stopped_gracefully()


def test_scan_over_the_timeout_is_503_and_the_server_recovers(small_index, web_docs):
    server = ServerProcess(small_index, verbatim_env(CLEARANCE_REQUEST_TIMEOUT_S="0.3"))
    # About 10 MB: several seconds of verbatim scanning on a fast machine, where 0.8 MB took
    # 0.1 s and slipped under the timeout.
    page = "\n".join(web_docs[:40])[:38_000]
    documents = [{"text": f"{i} {page}"} for i in range(256)]
    try:
        slow = server.client.post("/v1/scan/batch", json={"documents": documents}, headers=AUTH)
        deadline = time.monotonic() + 60
        while True:  # the abandoned batch finishes in the background, then scans go through
            quick = server.client.post("/v1/scan", json={"text": "x"}, headers=AUTH)
            if quick.status_code == 200 or time.monotonic() > deadline:
                break
    finally:
        server.stop()

    assert slow.status_code == 503
    assert slow.headers["retry-after"] == "1"
    error = slow.json()["error"]
    assert error["code"] == "timeout" and "CLEARANCE_REQUEST_TIMEOUT_S" in error["message"]
    assert quick.status_code == 200


def test_a_reload_reads_the_allowlist_again(tmp_path, small_index, small_corpora, web_docs):
    allowlist = tmp_path / "allowlist.jsonl"
    allowlist.write_text("", encoding="utf-8")
    doc = {"id": "page-1", "text": plant(web_docs[5], small_corpora[0].items[7].text)}
    server = ServerProcess(small_index, verbatim_env(CLEARANCE_ALLOWLIST=str(allowlist)))
    try:
        before = server.client.post("/v1/scan", json=doc, headers=AUTH).json()
        match = before["matches"][0]
        entry = {"level": "document", "doc_id": "page-1"} | {
            k: match[k] for k in ("corpus", "ref_id")
        }
        allowlist.write_text(json.dumps(entry) + "\n", encoding="utf-8")
        reload = server.client.post("/v1/admin/reload", headers=AUTH)
        after = server.client.post("/v1/scan", json=doc, headers=AUTH).json()
        allowlist.write_text("{not json\n", encoding="utf-8")
        refused = server.client.post("/v1/admin/reload", headers=AUTH)
        still = server.client.post("/v1/scan", json=doc, headers=AUTH).json()
    finally:
        server.stop()

    assert before["decision"] == "remove" and "allowed" not in match
    assert reload.status_code == 200
    assert after["decision"] == "keep" and after["risk"] == 0.0
    assert after["matches"][0]["allowed"] == "document"
    assert refused.status_code == 409 and "allowlist.jsonl:1" in refused.json()["error"]["message"]
    assert still["decision"] == "keep"  # the previous scanner, with its allowlist, still serves


def test_a_loaded_scanner_is_frozen_out_of_gc_and_freed_after_later_reloads(small_index):
    """The serving scanner's objects are out of the collector's full passes, and freezing
    does not keep a replaced scanner alive: two reloads later it is gone."""
    settings = ApiSettings.from_env(index=small_index, auth="disabled", tiers="verbatim")
    reloadable = ReloadableScanner(settings, ApiMetrics())
    gc.unfreeze()
    try:
        first, _ = asyncio.run(reloadable.load())
        assert gc.get_freeze_count() > 10_000
        scanner = weakref.ref(first.scanner)
        first.executor.shutdown()
        del first
        for _ in range(2):
            loaded, previous = asyncio.run(reloadable.load())
            previous.executor.shutdown()
            del previous
        assert scanner() is None
        assert reloadable.current() is loaded
    finally:
        gc.unfreeze()
        gc.callbacks.remove(_freeze_survivors)


class _Node:
    next: _Node | None = None


def test_what_survives_a_full_collection_while_serving_is_frozen_too(small_index):
    """Objects the serving process adds after a load (its caches filling) are frozen by the
    next full collection, so the one after walks only newer ones; garbage cycles among them
    are still freed by that collection, before the freeze."""
    settings = ApiSettings.from_env(index=small_index, auth="disabled", tiers="verbatim")
    reloadable = ReloadableScanner(settings, ApiMetrics())
    gc.unfreeze()
    try:
        loaded, _ = asyncio.run(reloadable.load())
        frozen = gc.get_freeze_count()
        cache = [_Node() for _ in range(5_000)]  # alive, as a cache's entries are
        cycle = _Node()
        cycle.next = cycle  # garbage that only the collector frees
        evicted = weakref.ref(cycle)
        del cycle
        gc.collect()
        assert evicted() is None
        assert gc.get_freeze_count() >= frozen + len(cache)
        assert len(gc.get_objects(generation=2)) < len(cache)
        loaded.executor.shutdown()
    finally:
        gc.unfreeze()
        gc.callbacks.remove(_freeze_survivors)
