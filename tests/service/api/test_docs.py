"""/docs renders on a machine without internet: every asset comes from this server.

A real headless Chromium (Debian's, driven through its chromedriver) loads the page from the
shared test server. Its resolver knows no host but loopback, as on an offline machine, and its
DevTools log records every request the page makes, so a page that still pulled Swagger UI from a
CDN fails twice: a request leaves loopback, and the operations never render.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser import leaving_loopback, requested_urls
from tests.service.api.api_server import ServerProcess


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
