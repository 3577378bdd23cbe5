"""The review loop in a real browser: Debian's headless Chromium against `clearance review`.

Open the queue, filter it, open a document, see the highlighted spans on both sides, dismiss
the match, reload and see it gone from the pending queue; a document holding a script shows it
as text without running it; then a second scan with the exported allowlist no longer flags the
document. Every request stays on loopback.

Set CLEARANCE_REVIEW_SCREENSHOT=docs/review-side-by-side.png to save the side-by-side page of
the reworded question (the README's screenshot is made so).
"""

from __future__ import annotations

import contextlib
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
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.ui import Select, WebDriverWait
from typer.testing import CliRunner

from service.cli import app
from tests.browser import leaving_loopback, requested_urls

CLEARANCE = Path(sys.executable).parent / "clearance"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_review(*args: str | Path) -> Iterator[str]:
    """`clearance review ARGS` on a free loopback port, until the block ends."""
    port = free_port()
    command = [str(CLEARANCE), "review", *map(str, args), "--port", str(port)]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
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
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def review_url(shard_results, small_index) -> Iterator[str]:
    with running_review(shard_results, "--index", small_index) as url:
        yield url


def listed(browser) -> list[str]:
    return [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#queue a.doc")]


def follow(browser, element) -> None:
    """Click what loads a new page, and wait until the old one is gone."""
    page = browser.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(browser, 30).until(lambda _: _gone(page))


def _gone(element) -> bool:
    """``staleness_of``, and also true when Chromium answers mid-navigation that the node
    "does not belong to the document" (a plain WebDriverException, which failed a run)."""
    try:
        return staleness_of(element)(None)
    except WebDriverException as exc:
        if "does not belong to the document" in str(exc):
            return True
        raise


def choose(browser, **filters: str) -> None:
    for name, value in filters.items():
        Select(browser.find_element(By.NAME, name)).select_by_value(value)
    follow(browser, browser.find_element(By.ID, "apply"))


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

    follow(browser, browser.find_element(By.LINK_TEXT, "rv-review"))
    doc_marks, ref_marks = marks(browser, "document"), marks(browser, "references")
    assert doc_marks and ref_marks and all(m.strip() for m in doc_marks + ref_marks)
    text = next(d["text"] for d in review_docs if d["id"] == "rv-review")
    assert all(" ".join(m.split()) in " ".join(text.split()) for m in doc_marks)

    form = browser.find_element(By.CSS_SELECTOR, "#match-1 form.verdict-form")
    form.find_element(By.NAME, "reviewer").send_keys("ana")
    form.find_element(By.NAME, "note").send_keys("an opening every quiz site shares")
    Select(form.find_element(By.NAME, "level")).select_by_value("span")
    follow(browser, form.find_element(By.CSS_SELECTOR, "button.dismiss"))
    assert "dismissed (span) by ana" in browser.find_element(By.ID, "verdict-1").text

    follow(browser, browser.find_element(By.LINK_TEXT, "← queue"))
    browser.refresh()
    assert listed(browser) == ["rv-review2"]
    assert browser.find_element(By.ID, "count-dismissed").text == "1"

    # A document holding HTML and a script: shown as text, the script never runs.
    choose(browser, decision="remove")
    follow(browser, browser.find_element(By.LINK_TEXT, "rv-html"))
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


def test_verbatim_and_paraphrase_evidence_side_by_side(browser, both_tiers_scan, small_index):
    results, docs = both_tiers_scan
    with running_review(results, "--docs", docs, "--index", small_index) as url:
        browser.get(url + "/?decision=all")
        assert listed(browser) == ["reworded"]
        follow(browser, browser.find_element(By.LINK_TEXT, "reworded"))
        for side in ("document", "references"):
            for method in ("verbatim", "paraphrase"):
                shown = browser.find_elements(By.CSS_SELECTOR, f"#{side} mark.{method}")
                assert shown and any(m.text.strip() for m in shown), (side, method)
        signals = browser.find_element(By.CSS_SELECTOR, "#match-1 .signals").text
        assert "span_cosine" in signals or "cosine" in signals
        if os.environ.get("CLEARANCE_REVIEW_SCREENSHOT"):
            browser.save_screenshot(os.environ["CLEARANCE_REVIEW_SCREENSHOT"])
        assert not leaving_loopback(requested_urls(browser))
