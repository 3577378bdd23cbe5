"""The review app called in-process over ASGI (httpx's transport), one request at a time."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
from fastapi import FastAPI


class Pages:
    def __init__(self, app: FastAPI):
        self.app = app

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://review") as client:
                return await client.request(method, path, **kwargs)

        return asyncio.run(send())

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post_form(self, path: str, form: dict[str, str]) -> httpx.Response:
        return self.request("POST", path, data=form)


def queue_ids(html: str) -> list[str]:
    """The document ids a queue page lists, in order."""
    return re.findall(r'<a class="doc" href="[^"]*">([^<]+)</a>', html)


def document_rows(html: str) -> dict[str, int]:
    """Document id -> its row on the queue page (the number in its link)."""
    return {
        doc_id: int(row)
        for row, doc_id in re.findall(
            r'<a class="doc" href="[^"]*/documents/(\d+)[^"]*">([^<]+)</a>', html
        )
    }
