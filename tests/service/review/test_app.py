"""The review pages over real scan results, called in-process; and mounted in `clearance serve`."""

from __future__ import annotations

import base64
import json
import re

import httpx
import pytest
from markupsafe import escape

from service.review.app import ReviewSite, create_review_app
from service.shards.results import read_report
from tests.service.api.api_server import KEY, ServerProcess, verbatim_env
from tests.service.review.conftest import HOSTILE
from tests.service.review.pages import Pages, document_rows, queue_ids


@pytest.fixture
def pages(shard_results, small_index) -> Pages:
    return Pages(create_review_app(ReviewSite.open(shard_results, index=small_index)))


def rows_of(pages: Pages) -> dict[str, int]:
    return document_rows(pages.get("/?decision=all&status=all").text)


def test_document_text_holding_html_and_script_is_shown_as_text(pages):
    page = pages.get(f"/documents/{rows_of(pages)['rv-html']}").text

    assert str(escape(HOSTILE)) in page
    assert "<script" not in page and "<b onmouseover" not in page and "<i>" not in page
    # ... and still highlighted on both sides: the GSM8K item around it is a match.
    document = page.split('id="document"', 1)[1].split('id="references"', 1)[0]
    reference = page.split('id="references"', 1)[1]
    assert '<mark class="verbatim"' in document and '<mark class="verbatim"' in reference


def test_the_queue_filters_and_counts(pages):
    pending = pages.get("/").text
    assert sorted(queue_ids(pending)) == ["rv-review", "rv-review2"]
    assert re.search(r'id="count-review">2<', pending) and re.search(
        r'id="count-remove">3<', pending
    )
    assert queue_ids(pages.get("/?decision=remove&kind=copyright").text) == ["rv-book"]
    assert queue_ids(pages.get("/?decision=all&shard=part-1.jsonl").text) == [
        "rv-remove",
        "rv-review",
    ]
    assert pages.get("/?decision=maybe").status_code == 400
    assert pages.get("/?page=-1").status_code == 400
    assert pages.get("/documents/999").status_code == 404
    assert pages.get("/static/review.css").headers["content-type"].startswith("text/css")
    assert pages.get("/static/../app.py").status_code == 404


def test_a_dismissal_is_kept_counted_reported_and_exported(pages, shard_results):
    row = rows_of(pages)["rv-review"]
    form = {"match": "1", "verdict": "dismissed", "level": "document", "reviewer": "ana"}
    saved = pages.post_form(f"/documents/{row}/verdicts", {**form, "note": "a <b>stock</b> phrase"})
    assert saved.status_code == 303 and saved.headers["location"] == f"/documents/{row}"

    page = pages.get(f"/documents/{row}").text
    assert "dismissed</b> (document) by ana" in page and "a &lt;b&gt;stock&lt;/b&gt; phrase" in page
    queue = pages.get("/").text
    assert queue_ids(queue) == ["rv-review2"]
    assert re.search(r'id="count-reviewed">1<', queue) and re.search(
        r'id="count-dismissed">1<', queue
    )
    report = read_report(shard_results)
    assert report["review"] == {"flagged": 5, "reviewed": 1, "confirmed": 0, "dismissed": 1}
    assert "flagged dismissed" in (shard_results / "report.html").read_text(encoding="utf-8")
    [entry] = [json.loads(line) for line in pages.get("/allowlist.jsonl").text.splitlines()]
    assert (entry["level"], entry["doc_id"], entry["corpus"]) == (
        "document",
        "rv-review",
        "gsm8k-test",
    )
    [verdict] = [json.loads(line) for line in pages.get("/verdicts.jsonl").text.splitlines()]
    assert (verdict["verdict"], verdict["reviewer"]) == ("dismissed", "ana")

    assert (
        pages.post_form(f"/documents/{row}/verdicts", {**form, "reviewer": ""}).status_code == 400
    )
    assert pages.post_form(f"/documents/{row}/verdicts", {**form, "match": "9"}).status_code == 400
    forged = pages.request(
        "POST", f"/documents/{row}/verdicts", data=form, headers={"Origin": "http://evil.example"}
    )
    assert forged.status_code == 403
    assert len(pages.get("/verdicts.jsonl").text.splitlines()) == 1


def test_the_pages_are_mounted_in_serve_behind_its_api_keys(small_index, shard_results):
    server = ServerProcess(
        small_index, verbatim_env(CLEARANCE_REVIEW_RESULTS=str(shard_results)), wait_ready=False
    )
    try:
        refused = server.client.get("/review/")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Basic")
        wrong = base64.b64encode(b"ana:not-the-key").decode()
        assert (
            server.client.get("/review/", headers={"Authorization": f"Basic {wrong}"}).status_code
            == 401
        )
        key = base64.b64encode(f"ana:{KEY}".encode()).decode()
        page = server.client.get("/review/", headers={"Authorization": f"Basic {key}"})
        assert page.status_code == 200 and sorted(queue_ids(page.text)) == [
            "rv-review",
            "rv-review2",
        ]
        assert 'href="/review/static/review.css"' in page.text
        bearer = httpx.get(
            server.url + "/review/static/review.css", headers={"Authorization": f"Bearer {KEY}"}
        )
        assert bearer.status_code == 200
        paths = server.client.get("/openapi.json").json()["paths"]
        assert not [p for p in paths if p.startswith("/review")]
    finally:
        server.stop()
