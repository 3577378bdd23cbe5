"""Every endpoint of a real server on the small real index (verbatim tier)."""

from __future__ import annotations

import threading

import httpx

from service.scanner import Scanner, ScanSettings
from tests.service.api.api_server import (
    AUTH,
    SECOND_KEY,
    ServerProcess,
    metric_value,
    plant,
    verbatim_env,
)


def test_scan_finds_a_gsm8k_item_hidden_in_a_c4_page(client, small_corpora, web_docs):
    item = small_corpora[0].items[7]
    doc = plant(web_docs[3], item.text)

    response = client.post(
        "/v1/scan",
        json={"id": "c4-3", "text": doc, "metadata": {"shard": 17, "source": "c4"}},
        headers=AUTH,
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["decision"], body["chars"]) == ("c4-3", "remove", len(doc))
    assert body["metadata"] == {"shard": 17, "source": "c4"}
    top = body["matches"][0]
    assert (top["corpus"], top["ref_id"], top["kind"]) == ("gsm8k-test", item.id, "benchmark")
    assert top["methods"] == ["verbatim"] and top["similarity"] > 0.9
    start, end = top["doc_span"]
    assert doc[start:end].split()[:4] == item.text.split()[:4]
    ref_start, ref_end = top["ref_span"]
    assert item.text[ref_start:ref_end].split()[:4] == item.text.split()[:4]
    assert top["evidence"] and top["evidence"][0]["method"] == "verbatim"
    assert response.headers["x-index-generation"] == "1"
    assert len(response.headers["x-request-id"]) == 32


def test_scan_answer_is_the_scanners_json(client, small_index, small_corpora, web_docs):
    # The response models mirror ScanResult.to_dict(); a field added there must show up here.
    doc = plant(web_docs[5], small_corpora[3].items[2].text)
    direct = Scanner.load(small_index, settings=ScanSettings(tiers=("verbatim",)))

    answer = client.post("/v1/scan", json={"id": "m", "text": doc}, headers=AUTH).json()

    assert answer["matches"], "the planted MMLU item should match"
    assert answer == {**direct.scan(doc, doc_id="m").to_dict(), "metadata": None}


def test_scan_keeps_a_clean_page_and_an_empty_text(client, web_docs):
    clean = client.post("/v1/scan", json={"text": web_docs[3]}, headers=AUTH).json()
    empty = client.post("/v1/scan", json={"text": ""}, headers=AUTH)

    assert (clean["decision"], clean["matches"], clean["id"]) == ("keep", [], None)
    assert empty.status_code == 200
    assert empty.json() == {
        "id": None,
        "risk": 0.0,
        "decision": "keep",
        "chars": 0,
        "matches": [],
        "metadata": None,
    }


def test_second_key_is_accepted_too(client):
    response = client.post(
        "/v1/scan", json={"text": "hello"}, headers={"Authorization": f"Bearer {SECOND_KEY}"}
    )
    assert response.status_code == 200


def test_batch_answers_in_input_order_like_single_scans(client, small_corpora, web_docs):
    gsm8k, books = small_corpora[0], small_corpora[4]
    book_passage = books.items[0].text[20_000:21_500]
    texts = [
        web_docs[10],
        plant(web_docs[11], gsm8k.items[3].text),
        "",
        plant(web_docs[12], book_passage),
        web_docs[13],
    ]
    documents = [{"id": f"doc-{i}", "text": t} for i, t in enumerate(texts)]

    response = client.post("/v1/scan/batch", json={"documents": documents}, headers=AUTH)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == 5
    assert [r["id"] for r in body["results"]] == [d["id"] for d in documents]
    decisions = [r["decision"] for r in body["results"]]
    assert decisions == ["keep", "remove", "keep", "remove", "keep"]
    assert body["results"][3]["matches"][0]["corpus"] == "books"
    singles = [client.post("/v1/scan", json=d, headers=AUTH).json() for d in documents]
    assert body["results"] == singles


def test_batch_rejects_bad_documents_and_scans_the_rest(client, small_corpora, web_docs):
    item = small_corpora[0].items[5]
    documents = [
        {"id": "big", "text": "word " * 30_000, "metadata": {"n": 1}},  # 150 KB > 100 KB limit
        {"id": "ok", "text": plant(web_docs[20], item.text)},
    ]
    raw = httpx.Request("POST", "/", json={"documents": documents}).content
    # A lone surrogate can only arrive as a JSON escape; json= would refuse to encode it.
    raw = raw[:-2] + b',{"id":"broken","text":"abc \\ud800 def"}]}'

    response = client.post(
        "/v1/scan/batch", content=raw, headers={**AUTH, "Content-Type": "application/json"}
    )

    assert response.status_code == 200, response.text
    big, ok, broken = response.json()["results"]
    assert (big["id"], big["decision"], big["code"]) == ("big", None, "document_too_large")
    assert "100000" in big["error"] and big["metadata"] == {"n": 1}
    assert (ok["id"], ok["decision"]) == ("ok", "remove")
    assert (broken["decision"], broken["code"]) == (None, "invalid_text")
    assert "surrogate" in broken["error"]


def test_index_describes_the_loaded_manifest(client, small_corpora):
    response = client.get("/v1/index", headers=AUTH)

    assert response.status_code == 200
    info = response.json()
    corpora = {c["name"]: c for c in info["manifest"]["corpora"]}
    assert list(corpora) == [c.name for c in small_corpora]
    assert corpora["gsm8k-test"]["items"] == 150 and corpora["gsm8k-test"]["kind"] == "benchmark"
    assert corpora["books"]["kind"] == "copyright"
    assert info["totals"]["items"] == sum(len(c.items) for c in small_corpora)
    assert info["totals"]["passages"] == sum(c["passages"] for c in corpora.values())
    assert info["manifest"]["model"]["name"] == "all-MiniLM-L6-v2"
    assert info["tiers"] == ["verbatim"] and info["generation"] == 1
    assert info["policy"]["benchmark"]["remove_at"] == 0.8


def test_probes_answer_without_a_key(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "generation": 1, "error": None}


def test_metrics_count_requests_documents_and_decisions(client, small_corpora, web_docs):
    before = client.get("/metrics").text
    doc = plant(web_docs[30], small_corpora[0].items[9].text)
    client.post("/v1/scan", json={"text": doc}, headers=AUTH)
    client.post("/v1/scan/batch", json={"documents": [{"text": web_docs[31]}]}, headers=AUTH)
    client.post("/v1/scan", json={"text": 1}, headers=AUTH)

    after = client.get("/metrics")

    assert after.headers["content-type"].startswith("text/plain")

    def delta(name: str, **labels: str) -> float:
        return metric_value(after.text, name, **labels) - metric_value(before, name, **labels)

    assert delta("clearance_documents_scanned_total") == 2
    assert delta("clearance_decisions_total", kind="benchmark", decision="remove") == 1
    assert delta("clearance_decisions_total", kind="none", decision="keep") == 1
    assert delta("clearance_http_requests_total", endpoint="/v1/scan", status="200") == 1
    assert delta("clearance_http_requests_total", endpoint="/v1/scan", status="422") == 1
    assert delta("clearance_http_requests_total", endpoint="/v1/scan/batch", status="200") == 1
    assert (
        delta("clearance_http_request_duration_seconds_count", endpoint="/v1/scan", status="200")
        == 1
    )
    assert metric_value(after.text, "clearance_index_items", corpus="gsm8k-test") == 150
    assert metric_value(after.text, "clearance_ready") == 1


def test_openapi_documents_every_endpoint_with_examples(client):
    schema = client.get("/openapi.json").json()

    for path in (
        "/v1/scan",
        "/v1/scan/batch",
        "/v1/index",
        "/v1/admin/reload",
        "/healthz",
        "/readyz",
        "/metrics",
    ):
        assert path in schema["paths"], path
    scan = schema["paths"]["/v1/scan"]["post"]
    assert set(scan["requestBody"]["content"]["application/json"]["examples"]) == {
        "contaminated",
        "clean",
    }
    assert {"401", "413", "422", "503"} <= set(scan["responses"])
    assert scan["security"] == [{"ApiKey": []}]
    components = schema["components"]["schemas"]
    assert components["ScanResponse"]["examples"][0]["decision"] == "remove"
    assert {"ref_id", "doc_span", "ref_span", "evidence"} <= set(
        components["MatchModel"]["properties"]
    )


def test_healthz_answers_while_a_big_batch_is_scanning(api_server, web_docs):
    # About 3 MB of real C4 text: seconds of scanner work on one thread.
    page = "\n".join(web_docs[:20])[:19_000]
    documents = [{"id": str(i), "text": f"{i} {page}"} for i in range(150)]
    outcome: dict[str, httpx.Response] = {}

    def send_batch() -> None:
        with httpx.Client(base_url=api_server.url, timeout=120) as other:
            outcome["batch"] = other.post(
                "/v1/scan/batch", json={"documents": documents}, headers=AUTH
            )

    sender = threading.Thread(target=send_batch)
    sender.start()
    client = api_server.client

    def scanning() -> float:
        return metric_value(client.get("/metrics").text, "clearance_scan_documents_in_progress")

    while scanning() < 150:
        assert sender.is_alive(), outcome
    health = client.get("/healthz")
    still_scanning = scanning()
    sender.join()

    assert health.status_code == 200
    assert still_scanning == 150  # the batch was still in the scanner after /healthz answered
    assert outcome["batch"].status_code == 200
    assert [r["id"] for r in outcome["batch"].json()["results"]] == [d["id"] for d in documents]


def test_logs_are_json_with_request_ids_and_no_document_text(api_server):
    marker = "zanzibarquokkaflute"
    response = api_server.client.post(
        "/v1/scan",
        json={"id": "log-check", "text": f"A page mentioning {marker}.", "metadata": {"m": marker}},
        headers={**AUTH, "X-Request-ID": "pipeline-run-42.doc-7"},
    )
    assert response.headers["x-request-id"] == "pipeline-run-42.doc-7"

    line = api_server.wait_for_log(lambda e: e.get("request_id") == "pipeline-run-42.doc-7")

    assert line["logger"] == "clearance.access" and line["level"] == "info"
    assert line["path"] == "/v1/scan" and line["status"] == 200
    assert line["ids"] == ["log-check"] and line["decisions"] == {"keep": 1}
    assert len(api_server.logs()) == len(api_server.lines)  # every line is JSON
    assert not any(marker in text for text in api_server.lines)


def test_document_text_is_logged_only_when_asked(small_index):
    server = ServerProcess(small_index, verbatim_env(CLEARANCE_LOG_DOCUMENTS="true"))
    try:
        server.client.post("/v1/scan", json={"id": "d1", "text": "a quokka page"}, headers=AUTH)
        line = server.wait_for_log(lambda e: e["message"] == "document")
    finally:
        server.stop()

    assert (line["id"], line["text"], line["decision"]) == ("d1", "a quokka page", "keep")
    assert line["request_id"]
