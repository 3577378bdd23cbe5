"""A real headless Chromium for the page tests: Debian's, driven through its chromedriver.

Its resolver knows no host but loopback, as on an offline machine, and its DevTools log
records every request a page makes, so a page that pulls anything from a CDN is caught.
"""

from __future__ import annotations

import json
import shutil
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
# Schemes whose "requests" never touch the network (inline images, the page's own blobs).
LOCAL_SCHEMES = {"data", "blob", "about", "chrome-error"}


def chromium_driver(window: tuple[int, int] = (1400, 1000)) -> webdriver.Chrome:
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and chromedriver):
        pytest.fail(
            "chromium and chromedriver are needed for the page tests: `make test` installs "
            "Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"
        )
    options = Options()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={window[0]},{window[1]}",
        # Offline: every host but loopback fails to resolve.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    # A chromedriver path given to Service keeps Selenium Manager from looking for (and
    # downloading) a driver of its own.
    return webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)


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
