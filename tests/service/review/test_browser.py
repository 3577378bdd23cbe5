"""The review loop in a real browser: Debian's headless Chromium against `clearance review`.

Open the queue, filter it, open a document, see the highlighted spans on both sides, dismiss
the match, reload and see it gone from the pending queue; a document holding a script shows it
as text without running it; then a second scan with the exported allowlist no longer flags the
document. Every request stays on loopback.

Set CLEARANCE_REVIEW_SCREENSHOT=docs/review-side-by-side.png to save the side-by-side page
(the README's screenshot is made so).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait
from typer.testing import CliRunner

from service.cli import app
from tests.browser import leaving_loopback, requested_urls

CLEARANCE = Path(sys.executable).parent / "clearance"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def review_url(shard_results, small_index) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [
            *(str(CLEARANCE), "review", str(shard_results)),
            *("--index", str(small_index), "--port", str(port)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + "/").status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"clearance review did not start: {process.communicate()[1]}")
        time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(timeout=30)


def listed(browser) -> list[str]:
    return [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#queue a.doc")]


def choose(browser, **filters: str) -> None:
    for name, value in filters.items():
        Select(browser.find_element(By.NAME, name)).select_by_value(value)
    browser.find_element(By.ID, "apply").click()


def marks(browser, side: str) -> list[str]:
    return [m.text for m in browser.find_elements(By.CSS_SELECTOR, f"#{side} mark.verbatim")]


def test_a_reviewer_dismisses_a_match_and_the_next_scan_allows_it(
    browser, review_url, shard_results, review_docs, small_index, tmp_path
):
    browser.get(review_url + "/")
    assert sorted(listed(browser)) == ["rv-review", "rv-review2"]
    choose(browser, decision="all", kind="copyright")
    assert listed(browser) == ["rv-book"]
    choose(browser, decision="review", kind="")
    assert sorted(listed(browser)) == ["rv-review", "rv-review2"]

    browser.find_element(By.LINK_TEXT, "rv-review").click()
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.ID, "doc-title"))
    doc_marks, ref_marks = marks(browser, "document"), marks(browser, "references")
    assert doc_marks and ref_marks and all(m.strip() for m in doc_marks + ref_marks)
    text = next(d["text"] for d in review_docs if d["id"] == "rv-review")
    assert all(" ".join(m.split()) in " ".join(text.split()) for m in doc_marks)
    if os.environ.get("CLEARANCE_REVIEW_SCREENSHOT"):
        browser.save_screenshot(os.environ["CLEARANCE_REVIEW_SCREENSHOT"])

    form = browser.find_element(By.CSS_SELECTOR, "#match-1 form.verdict-form")
    form.find_element(By.NAME, "reviewer").send_keys("ana")
    form.find_element(By.NAME, "note").send_keys("an opening every quiz site shares")
    Select(form.find_element(By.NAME, "level")).select_by_value("span")
    form.find_element(By.CSS_SELECTOR, "button.dismiss").click()
    verdict = WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.ID, "verdict-1"))
    assert "dismissed (span) by ana" in verdict[0].text

    browser.find_element(By.LINK_TEXT, "← queue").click()
    browser.refresh()
    assert listed(browser) == ["rv-review2"]
    assert browser.find_element(By.ID, "count-dismissed").text == "1"

    # A document holding HTML and a script: shown as text, the script never runs.
    choose(browser, decision="remove")
    browser.find_element(By.LINK_TEXT, "rv-html").click()
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.ID, "doc-title"))
    assert "pwned" not in browser.title
    assert '<script>document.title="pwned"</script>' in browser.find_element(By.ID, "document").text
    assert not browser.find_elements(By.CSS_SELECTOR, "#document b, #document script")
    assert not leaving_loopback(requested_urls(browser))

    allowlist = tmp_path / "allowlist.jsonl"
    export = CliRunner().invoke(
        app, ["review", str(shard_results), "--allowlist-out", str(allowlist)]
    )
    assert export.exit_code == 0, export.output
    assert json.loads(allowlist.read_text(encoding="utf-8"))["level"] == "span"
    docs = tmp_path / "again.jsonl"
    docs.write_text(
        "".join(json.dumps(d) + "\n" for d in review_docs if d["id"].startswith("rv-review")),
        encoding="utf-8",
    )
    scans = {}
    for extra in ([], ["--allowlist", str(allowlist)]):
        run = CliRunner().invoke(
            app, ["scan", str(docs), "--index", str(small_index), "--tiers", "verbatim", *extra]
        )
        assert run.exit_code == 0, run.output
        scans[bool(extra)] = {r["id"]: r for r in map(json.loads, run.stdout.splitlines())}
    assert scans[False]["rv-review"]["decision"] == "review"
    assert scans[True]["rv-review"]["decision"] == "keep"
    assert scans[True]["rv-review"]["matches"][0]["allowed"] == "span"
    assert scans[True]["rv-review2"]["decision"] == "review"  # another item: still flagged
