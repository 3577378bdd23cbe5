"""The body-size limit holds whatever the app does with a failed body read.

The limit used to raise from ``receive``, which works only if every layer between it and the
body read passes that exception on. FastAPI turns any exception it does not recognise while
reading a body (one wrapped in an exception group, say) into "400 There was an error parsing
the body", which is how a reliability trial got 400 for a chunked body over
``CLEARANCE_MAX_REQUEST_BYTES``. The app below answers a failed read with that 400, so the
limit is checked against the worst case; the real server's 413 is tested in test_errors.py.
"""

from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from service.api.middleware import RequestBodyLimit

LIMIT = 4096


async def reads_like_old_fastapi(request: Request) -> JSONResponse:
    try:
        body = await request.body()
    except Exception:
        return JSONResponse({"detail": "There was an error parsing the body"}, status_code=400)
    return JSONResponse({"bytes": len(body)})


def _post(content) -> httpx.Response:
    """POST to the app wrapped in the limit, in process; a generator body is sent in chunks
    with no Content-Length."""
    app = Starlette(routes=[Route("/echo", reads_like_old_fastapi, methods=["POST"])])
    app.state.settings = type("Settings", (), {"max_request_bytes": LIMIT})()
    transport = httpx.ASGITransport(app=RequestBodyLimit(app, max_bytes=LIMIT))

    async def post() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post("/echo", content=content)

    return asyncio.run(post())


async def _chunks(total: int):
    for _ in range(total // 1024):
        yield b"a" * 1024


def test_a_chunked_body_over_the_limit_is_413_even_where_the_app_answers_400():
    response = _post(_chunks(3 * LIMIT))

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert str(LIMIT) in response.json()["error"]["message"]


def test_a_chunked_body_within_the_limit_reaches_the_app():
    response = _post(_chunks(LIMIT))

    assert response.status_code == 200 and response.json() == {"bytes": LIMIT}


def test_a_declared_body_over_the_limit_is_413_before_it_is_read():
    response = _post(b"a" * (LIMIT + 1))

    assert response.status_code == 413
