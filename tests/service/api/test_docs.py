"""/docs renders on a machine without internet: every asset comes from this server.

A real headless Chromium (Debian's, driven through its chromedriver) loads the page from the
shared test server. Its resolver knows no host but loopback, as on an offline machine, and its
DevTools log records every request the page makes, so a page that still pulled Swagger UI from a
CDN fails twice: a request leaves loopback, and the operations never render.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.service.api.api_server import ServerProcess

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
# Schemes whose "requests" never touch the network (inline images, the page's own blobs).
LOCAL_SCHEMES = {"data", "blob", "about", "chrome-error"}


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and chromedriver):
        pytest.fail(
            "chromium and chromedriver are needed for the /docs test: `make test` installs "
            "Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"
        )
    options = Options()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
        "--disable-dev-shm-usage",
        "--disable-gpu",
        # Offline: every host but loopback fails to resolve.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    # A chromedriver path given to Service keeps Selenium Manager from looking for (and
    # downloading) a driver of its own.
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    yield driver
    driver.quit()


def requested_urls(driver: webdriver.Chrome) -> list[str]:
    """Every URL the page asked for (DevTools Network events since the last call)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def leaving_loopback(urls: list[str]) -> list[str]:
    return [
        url
        for url in urls
        if urlsplit(url).scheme not in LOCAL_SCHEMES and urlsplit(url).hostname not in LOOPBACK
    ]


def rendered_paths(driver: webdriver.Chrome, timeout: float = 60) -> set[str]:
    """The operation paths Swagger UI has drawn (one block per operation, path in data-path)."""
    selector = ".opblock-summary-path[data-path]"
    try:
        WebDriverWait(driver, timeout).until(lambda d: d.find_elements(By.CSS_SELECTOR, selector))
    except TimeoutException:
        return set()
    return {e.get_attribute("data-path") for e in driver.find_elements(By.CSS_SELECTOR, selector)}


def test_docs_render_the_operations_with_no_request_leaving_loopback(
    api_server: ServerProcess, browser: webdriver.Chrome
):
    browser.get(api_server.url + "/docs")

    drawn = rendered_paths(browser)
    urls = requested_urls(browser)

    assert not leaving_loopback(urls), urls
    assert any(urlsplit(url).path == "/openapi.json" for url in urls), urls
    assert {"/v1/scan", "/v1/scan/batch", "/v1/index", "/healthz"} <= drawn, (drawn, urls)


def test_redoc_is_not_served(client):
    """ReDoc's bundle loads its logo from Redocly's CDN even when served locally, so the
    server offers Swagger UI alone."""
    response = client.get("/redoc")
    assert response.status_code == 404
